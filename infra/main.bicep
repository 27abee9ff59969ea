// One Tenantry stamp: everything one region needs, in its own resource group.
//   identity -> monitoring, key vault, regional storage (each grants the identity its roles on
//   itself only) -> function app; plus, in the global resource group, the identity's access to
//   the control tables.
// Deploy once per region and environment, after global.bicep (runbook: infra/README.md):
//   az deployment sub create --name tenantry-<environment>-<region> --location <location> \
//     --parameters infra/regions/<region>.bicepparam
targetScope = 'subscription'

@description('Environment, e.g. prod or staging: part of every name, so environments can share a subscription.')
@minLength(2)
@maxLength(8)
param environment string

@description('Region key, as the app names it (TENANTRY_REGIONS): 2-16 lowercase letters and digits, e.g. eu.')
@minLength(2)
@maxLength(16)
param region string

@description('Azure location of every resource of the stamp (must offer Flex Consumption), e.g. westeurope.')
param location string

@description('Name of the control storage account: output controlStorageAccountName of the global deployment.')
param controlStorageAccountName string

@description('App ID URI of the API\'s app registration (ENTRA_AUDIENCE), e.g. api://tenantry.')
param entraAudience string

@description('Client id of the API\'s app registration (ENTRA_CLIENT_ID): v2 tokens carry it as audience.')
param entraClientId string

@description('Client id of the partner portal\'s own (SPA) app registration (PORTAL_CLIENT_ID): the portal at / signs personnel in with it (MSAL, auth code + PKCE; its redirect URI is https://<the stamp\'s host>/).')
param portalClientId string

@description('The operator\'s own Entra tenant id (OPERATOR_TENANT_ID), where Tenantry.Operator is assigned.')
param operatorTenantId string

@description('Firebase project id push notifications are sent through (FIREBASE_PROJECT_ID).')
param firebaseProjectId string

@description('Client id of the multi-tenant Graph app (GDAP) that reads and manages customer tenants (GRAPH_CLIENT_ID).')
param graphClientId string

@description('The stamp\'s alert e-mail sender domain (customer managed, its DNS records published by the operator), e.g. eu.mail.example.com.')
param emailSenderDomain string

@description('Where Azure Communication Services keeps the stamp\'s e-mail data at rest: an ACS data location in the stamp\'s geography (Europe, United States, ...).')
param emailDataLocation string

@description('Resource group of the global part (same default as global.bicep).')
param controlResourceGroupName string = 'rg-tenantry-${environment}-global'

@description('default; recover: this stamp\'s vault was deleted and is in soft delete (its name stays taken 90 days).')
@allowed([
  'default'
  'recover'
])
param keyVaultCreateMode string = 'default'

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

@description('Memory of one Flex Consumption instance (2048: one core).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

// HTTP concurrency and threads: measured on one host process, see infra/README.md ("HTTP concurrency").
@description('HTTP executions one instance runs at once (Flex\'s default for Python is 1).')
@minValue(1)
@maxValue(1000)
param httpPerInstanceConcurrency int = 32

@description('Threads of the Python worker (PYTHON_THREADPOOL_THREAD_COUNT), at most 32.')
@minValue(1)
@maxValue(32)
param pythonThreadCount int = 32

@description('Always-ready instances of the HTTP group: 0 scales to zero (a first request after idle waits for a cold start); each one is billed around the clock.')
@minValue(0)
@maxValue(20)
param alwaysReadyHttpInstances int = 0

var tags = {
  app: 'tenantry'
  environment: environment
  stamp: region
}

// Globally unique names (storage, vault, app) carry a hash of subscription, environment and
// region; the others name environment and region outright.
var suffix = uniqueString(subscription().id, 'tenantry', environment, region)
var names = {
  resourceGroup: 'rg-tenantry-${environment}-${region}'
  identity: 'id-tenantry-${environment}-${region}'
  storage: take('st${region}${suffix}', 24)
  keyVault: take('kv${region}${suffix}', 24)
  workspace: 'log-tenantry-${environment}-${region}'
  appInsights: 'appi-tenantry-${environment}-${region}'
  plan: 'plan-tenantry-${environment}-${region}'
  app: 'func-tenantry-${environment}-${region}-${take(suffix, 6)}'
  // Communication Services names are global (they become the endpoint's host name).
  communication: 'acs-tenantry-${environment}-${region}-${take(suffix, 6)}'
  emailService: 'ecs-tenantry-${environment}-${region}-${take(suffix, 6)}'
}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: names.resourceGroup
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'tenantry-${environment}-${region}-identity'
  scope: rg
  params: {
    location: location
    name: names.identity
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'tenantry-${environment}-${region}-monitoring'
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
  name: 'tenantry-${environment}-${region}-key-vault'
  scope: rg
  params: {
    location: location
    name: names.keyVault
    createMode: keyVaultCreateMode
    readerPrincipalId: identity.outputs.principalId
    workspaceId: monitoring.outputs.workspaceId
    tags: tags
  }
}

module storage 'modules/regional-storage.bicep' = {
  name: 'tenantry-${environment}-${region}-storage'
  scope: rg
  params: {
    location: location
    name: names.storage
    skuName: storageSku
    dataPrincipalId: identity.outputs.principalId
    workspaceId: monitoring.outputs.workspaceId
    tags: tags
  }
}

// Alert e-mail (Azure Communication Services), sent with the stamp identity.
module email 'modules/email.bicep' = {
  name: 'tenantry-${environment}-${region}-email'
  scope: rg
  params: {
    communicationName: names.communication
    emailServiceName: names.emailService
    senderDomain: emailSenderDomain
    dataLocation: emailDataLocation
    senderPrincipalId: identity.outputs.principalId
    tags: tags
  }
}

// The stamp's access to the partner directory, granted in the global resource group.
module controlAccess 'modules/control-access.bicep' = {
  name: 'tenantry-${environment}-${region}-control-access'
  scope: resourceGroup(controlResourceGroupName)
  params: {
    controlStorageAccountName: controlStorageAccountName
    principalId: identity.outputs.principalId
  }
}

module functionApp 'modules/function-app.bicep' = {
  name: 'tenantry-${environment}-${region}-function-app'
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
    regionalQueueServiceUri: storage.outputs.queueEndpoint
    controlStorageAccountName: controlStorageAccountName
    keyVaultName: keyVault.outputs.name
    entraAudience: entraAudience
    entraClientId: entraClientId
    portalClientId: portalClientId
    operatorTenantId: operatorTenantId
    firebaseProjectId: firebaseProjectId
    graphClientId: graphClientId
    emailEndpoint: email.outputs.endpoint
    emailSender: email.outputs.senderAddress
    appInsightsConnectionString: monitoring.outputs.appInsightsConnectionString
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    httpPerInstanceConcurrency: httpPerInstanceConcurrency
    pythonThreadCount: pythonThreadCount
    alwaysReadyHttpInstances: alwaysReadyHttpInstances
    tags: tags
  }
  // The app must not start before its identity can read secrets and the partner directory.
  dependsOn: [
    controlAccess
  ]
}

// What an operator needs after a deployment (infra/README.md uses each of them).
output resourceGroupName string = rg.name
output functionAppName string = functionApp.outputs.name
output functionAppHostName string = functionApp.outputs.defaultHostName
output keyVaultName string = keyVault.outputs.name
output keyVaultUri string = keyVault.outputs.uri
output storageAccountName string = storage.outputs.name
output identityResourceId string = identity.outputs.id
output identityPrincipalId string = identity.outputs.principalId
output identityClientId string = identity.outputs.clientId
output appInsightsName string = monitoring.outputs.appInsightsName
output logAnalyticsWorkspaceId string = monitoring.outputs.workspaceId
// The DNS records (domain, SPF, DKIM, DKIM2) to publish for emailSenderDomain (infra/README.md).
output emailVerificationRecords object = email.outputs.verificationRecords
