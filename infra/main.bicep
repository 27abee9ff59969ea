// One Tenantry stamp: everything one region needs, in its own resource group.
//   identity -> monitoring, key vault, regional storage (each grants the identity its roles on
//   itself only) -> function app; plus, in the global resource group, the identity's access to
//   the control tables and the stamp's DNS record.
// Deploy once per region, after global.bicep:
//   az deployment sub create --name tenantry-<region> --location <location> \
//     --template-file infra/main.bicep --parameters infra/regions/<region>.bicepparam
targetScope = 'subscription'

@description('Region key, as the app names it (TENANTRY_REGIONS): 2-16 lowercase letters and digits, e.g. eu.')
@minLength(2)
@maxLength(16)
param region string

@description('Azure location of every resource of the stamp (must offer Flex Consumption), e.g. westeurope.')
param location string

@description('Name of the control storage account: output controlStorageAccountName of the global deployment.')
param controlStorageAccountName string

@description('Audience of personnel tokens (ENTRA_AUDIENCE): the client id or App ID URI of the app registration.')
param entraAudience string

@description('Firebase project id push notifications are sent through (FIREBASE_PROJECT_ID).')
param firebaseProjectId string

@description('Resource group of the global part (same default as global.bicep).')
param controlResourceGroupName string = 'rg-tenantry-global'

@description('DNS zone of the global part; empty when the global part has none.')
param dnsZoneName string = ''

@description('Replication of the regional account. ZRS keeps every copy inside the region.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
])
param storageSku string = 'Standard_ZRS'

@description('Days Log Analytics keeps logs (at most 730: the 24 months of the audit promise).')
@minValue(30)
@maxValue(730)
param logRetentionInDays int = 90

@description('Upper bound of Flex Consumption instances.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Memory of one Flex Consumption instance.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

var tags = {
  app: 'tenantry'
  stamp: region
}

// Globally unique names (storage, vault, app) carry a hash of subscription and region.
var suffix = uniqueString(subscription().id, 'tenantry', region)
var names = {
  resourceGroup: 'rg-tenantry-${region}'
  identity: 'id-tenantry-${region}'
  storage: take('st${region}${suffix}', 24)
  keyVault: take('kv${region}${suffix}', 24)
  workspace: 'log-tenantry-${region}'
  appInsights: 'appi-tenantry-${region}'
  plan: 'plan-tenantry-${region}'
  app: 'func-tenantry-${region}-${take(suffix, 6)}'
}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: names.resourceGroup
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'tenantry-${region}-identity'
  scope: rg
  params: {
    location: location
    name: names.identity
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'tenantry-${region}-monitoring'
  scope: rg
  params: {
    location: location
    workspaceName: names.workspace
    appInsightsName: names.appInsights
    retentionInDays: logRetentionInDays
    publisherPrincipalId: identity.outputs.principalId
    tags: tags
  }
}

module keyVault 'modules/key-vault.bicep' = {
  name: 'tenantry-${region}-key-vault'
  scope: rg
  params: {
    location: location
    name: names.keyVault
    readerPrincipalId: identity.outputs.principalId
    workspaceId: monitoring.outputs.workspaceId
    tags: tags
  }
}

module storage 'modules/regional-storage.bicep' = {
  name: 'tenantry-${region}-storage'
  scope: rg
  params: {
    location: location
    name: names.storage
    skuName: storageSku
    dataPrincipalId: identity.outputs.principalId
    tags: tags
  }
}

// The stamp's access to the partner directory, granted in the global resource group.
module controlAccess 'modules/control-access.bicep' = {
  name: 'tenantry-${region}-control-access'
  scope: resourceGroup(controlResourceGroupName)
  params: {
    controlStorageAccountName: controlStorageAccountName
    principalId: identity.outputs.principalId
  }
}

module functionApp 'modules/function-app.bicep' = {
  name: 'tenantry-${region}-function-app'
  scope: rg
  params: {
    location: location
    region: region
    planName: names.plan
    appName: names.app
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    regionalStorageName: storage.outputs.name
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    controlStorageAccountName: controlStorageAccountName
    keyVaultName: keyVault.outputs.name
    entraAudience: entraAudience
    firebaseProjectId: firebaseProjectId
    appInsightsConnectionString: monitoring.outputs.appInsightsConnectionString
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    tags: tags
  }
  // The app must not start before its identity can read secrets and the partner directory.
  dependsOn: [
    controlAccess
  ]
}

module routing 'modules/routing-record.bicep' = if (!empty(dnsZoneName)) {
  name: 'tenantry-${region}-routing'
  scope: resourceGroup(controlResourceGroupName)
  params: {
    dnsZoneName: dnsZoneName
    region: region
    targetHostName: functionApp.outputs.defaultHostName
    verificationId: functionApp.outputs.customDomainVerificationId
  }
}

output resourceGroupName string = rg.name
output functionAppName string = functionApp.outputs.name
output functionAppHostName string = functionApp.outputs.defaultHostName
output keyVaultName string = keyVault.outputs.name
output storageAccountName string = storage.outputs.name
