// The global part of Tenantry, one per environment: what every region shares and no region's
// data. The control storage account (partner directory, tenant and org claims: ids and regions,
// nothing personal) and the workspace that keeps its write, delete and refusal logs.
// Deploy it once per environment, before any stamp (runbook: infra/README.md):
//   az deployment sub create --name tenantry-<environment>-global --location <location> \
//     --parameters infra/global.bicepparam
targetScope = 'subscription'

@description('Environment, e.g. prod or staging: part of every name, so environments can share a subscription.')
@minLength(2)
@maxLength(8)
param environment string

@description('Azure location of the global resource group, the control account and its workspace.')
param location string

@description('Resource group of the global part. Stamps look the control account up here.')
param resourceGroupName string = 'rg-tenantry-${environment}-global'

@description('Replication of the control account.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
])
param storageSku string = 'Standard_ZRS'

@description('Days the global workspace keeps the control account\'s logs (at most 730).')
@minValue(30)
@maxValue(730)
param logRetentionInDays int = 90

var tags = {
  app: 'tenantry'
  environment: environment
  part: 'global'
}

// Storage account names are global: a short hash of subscription and resource group (which names
// the environment) keeps them unique.
var controlStorageName = take('stctl${uniqueString(subscription().id, resourceGroupName)}', 24)

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: resourceGroupName
  location: location
  tags: tags
}

module logs 'modules/global-logs.bicep' = {
  name: 'tenantry-${environment}-global-logs'
  scope: rg
  params: {
    location: location
    name: 'log-tenantry-${environment}-global'
    retentionInDays: logRetentionInDays
    tags: tags
  }
}

module control 'modules/control-storage.bicep' = {
  name: 'tenantry-${environment}-global-control-storage'
  scope: rg
  params: {
    location: location
    name: controlStorageName
    skuName: storageSku
    workspaceId: logs.outputs.workspaceId
    tags: tags
  }
}

// Each stamp deployment needs this name (TENANTRY_CONTROL_STORAGE, see infra/README.md).
output controlStorageAccountName string = control.outputs.name
output controlResourceGroupName string = rg.name
output logAnalyticsWorkspaceId string = logs.outputs.workspaceId
