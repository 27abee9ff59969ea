// The global part of Tenantry: what is shared by every region and holds no region's data.
//   - the control storage account with the partner directory (partner id -> region);
//   - optionally, the public DNS zone under which each stamp publishes `<region>.<zone>`.
// Deploy it once, before any stamp:
//   az deployment sub create --name tenantry-global --location <location> \
//     --template-file infra/global.bicep --parameters infra/global.bicepparam
targetScope = 'subscription'

@description('Azure location of the global resource group and the control account.')
param location string

@description('Resource group of the global part. Stamps look the control account up here.')
param resourceGroupName string = 'rg-tenantry-global'

@description('Public DNS zone for the stamps\' API host names, e.g. api.example.com. Empty: no DNS zone.')
param dnsZoneName string = ''

@description('Replication of the control account.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
])
param storageSku string = 'Standard_ZRS'

var tags = {
  app: 'tenantry'
  part: 'global'
}

// Storage account names are global: a short hash of the subscription keeps them unique.
var controlStorageName = take('stctl${uniqueString(subscription().id, resourceGroupName)}', 24)

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: resourceGroupName
  location: location
  tags: tags
}

module control 'modules/control-storage.bicep' = {
  name: 'tenantry-global-control-storage'
  scope: rg
  params: {
    location: location
    name: controlStorageName
    skuName: storageSku
    tags: tags
  }
}

module dns 'modules/dns-zone.bicep' = if (!empty(dnsZoneName)) {
  name: 'tenantry-global-dns'
  scope: rg
  params: {
    name: dnsZoneName
    tags: tags
  }
}

// Each stamp deployment needs this name (TENANTRY_CONTROL_STORAGE, see infra/README.md).
output controlStorageAccountName string = control.outputs.name
output controlResourceGroupName string = rg.name
