// The stamp's function app: Flex Consumption (FC1, Linux, Python 3.11), deployed from a blob
// container of the stamp's own storage account, every connection made with the stamp's
// user-assigned identity. No setting holds a key, a connection string with a key, or a secret.

@description('Azure location of the stamp.')
param location string

@description('Region key of this stamp (one of the app\'s regions, e.g. eu).')
param region string

param planName string
param appName string

@description('Resource id of the stamp identity.')
param identityId string

@description('Client id of the stamp identity (tells the SDKs and the host which identity to use).')
param identityClientId string

@description('The stamp storage account (regional data, host state, app package).')
param regionalStorageName string
param deploymentContainerUrl string

@description('Queue service URI of the stamp storage account (https://<account>.queue.core.windows.net/).')
param regionalQueueServiceUri string

@description('The control storage account of the global part (partner directory).')
param controlStorageAccountName string

@description('Name of the stamp Key Vault that holds the app secrets.')
param keyVaultName string

@description('The API app registration\'s App ID URI (api://...): one audience tokens may carry.')
param entraAudience string

@description('The API app registration\'s client id: the other audience tokens may carry (v2 tokens always do).')
param entraClientId string

@description('The partner portal\'s own (SPA) app registration\'s client id, served to the portal in /config.json.')
param portalClientId string

@description('The operator\'s own Entra tenant id: operator tokens (app role Tenantry.Operator) come from it.')
param operatorTenantId string

@description('Client id of the multi-tenant Graph app (GDAP) that reads and manages customer tenants.')
param graphClientId string

@description('Firebase project id push notifications are sent through (FIREBASE_PROJECT_ID).')
param firebaseProjectId string

@description('Endpoint of the stamp\'s Communication Services resource (ACS_EMAIL_ENDPOINT), reached with the identity.')
param emailEndpoint string

@description('Sender address of alert e-mails on the stamp\'s verified domain (ACS_EMAIL_SENDER).')
param emailSender string

@description('Application Insights connection string (an identifier; ingestion needs the identity token).')
param appInsightsConnectionString string

@description('Upper bound of instances Flex Consumption may scale out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int

@description('Memory of one instance.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

@description('HTTP executions one instance runs at once (Flex default for Python: 1). Chosen from bench figures: infra/README.md.')
@minValue(1)
@maxValue(1000)
param httpPerInstanceConcurrency int

@description('Threads of the Python worker (PYTHON_THREADPOOL_THREAD_COUNT): every HTTP function is synchronous.')
@minValue(1)
@maxValue(32)
param pythonThreadCount int

@description('Instances of the HTTP group kept running when idle (billed around the clock); 0 scales to zero.')
@minValue(0)
@maxValue(20)
param alwaysReadyHttpInstances int

param tags object

// Flex Consumption plan: no cost while idle unless alwaysReadyHttpInstances is above 0.
resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true // Linux
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: appName
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // The API is public: partner apps, Dataverse webhooks and browsers call it (see checkov-skips.yaml).
    publicNetworkAccess: 'Enabled'
    clientCertEnabled: false
    // Key Vault references are resolved with the stamp identity (it holds Key Vault Secrets User).
    keyVaultReferenceIdentity: identityId
    // Only properties Flex Consumption accepts: `ftpsState` is on Microsoft's list of Flex
    // deprecations (ARM error 51021), and so are alwaysOn, linuxFxVersion, use32BitWorkerProcess,
    // functionAppScaleLimit and preWarmedInstanceCount (their Flex forms are in functionAppConfig).
    // FTP is off through the `ftp` publishing-credentials policy below.
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          // The app package lives in the stamp's own account and is fetched with the identity,
          // never with a storage connection string.
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        // Flex starts a Python app at 1 HTTP request per instance; the host code and the bench
        // figures assume many in flight (infra/README.md, "HTTP concurrency").
        triggers: {
          http: {
            perInstanceConcurrency: httpPerInstanceConcurrency
          }
        }
        alwaysReady: (alwaysReadyHttpInstances > 0) ? [
          {
            name: 'http'
            instanceCount: alwaysReadyHttpInstances
          }
        ] : []
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// The app settings, in full: this resource replaces whatever was set by hand. The names are the
// ones shared/settings.py reads; tests/infra/test_infra_settings.py fails the build on any setting the
// code needs that is missing here, and on any setting here that nothing reads.
resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: app
  name: 'appsettings'
  properties: {
    // --- Host storage -------------------------------------------------------------------------
    // The Functions host keeps its leases, timer state and keys in the stamp's own account, so
    // nothing of the stamp's runtime state leaves the region or reaches another stamp.
    AzureWebJobsStorage__accountName: regionalStorageName
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identityClientId

    // --- Control data -------------------------------------------------------------------------
    // The partner directory (CONTROL_STORAGE_SETTING in shared/settings.py), in the global part.
    TENANTRY_STORAGE_CONTROL__accountName: controlStorageAccountName
    TENANTRY_STORAGE_CONTROL__credential: 'managedidentity'
    TENANTRY_STORAGE_CONTROL__clientId: identityClientId

    // --- Regional data ------------------------------------------------------------------------
    // A stamp serves exactly one region and holds settings for no other region's account: it
    // can never reach another region's data.
    TENANTRY_REGIONS: region
    'TENANTRY_STORAGE_${toUpper(region)}__accountName': regionalStorageName
    // The queue triggers use this connection too; for a connection other than the host's own,
    // the Functions host documents the service URI, not the account name.
    'TENANTRY_STORAGE_${toUpper(region)}__queueServiceUri': regionalQueueServiceUri
    'TENANTRY_STORAGE_${toUpper(region)}__credential': 'managedidentity'
    'TENANTRY_STORAGE_${toUpper(region)}__clientId': identityClientId

    // --- Plain settings -----------------------------------------------------------------------
    // OPERATOR_API_KEY (break-glass) is absent on purpose: off unless set by hand (infra/README.md).
    ENTRA_AUDIENCE: entraAudience
    ENTRA_CLIENT_ID: entraClientId
    // The partner portal at / (portal/dist in the package): its own SPA app registration.
    PORTAL_CLIENT_ID: portalClientId
    OPERATOR_TENANT_ID: operatorTenantId
    // Timer schedules (NCRONTAB, UTC), read by the triggers as %PRIVACY_..._SCHEDULE%.
    PRIVACY_SWEEP_SCHEDULE: '0 30 2 * * *'
    PRIVACY_WATCH_SCHEDULE: '0 */15 * * * *'
    TENANT_SYNC_SCHEDULE: '0 0 */6 * * *'
    // Microsoft Graph: the multi-tenant (GDAP) app that reads and manages customer tenants.
    GRAPH_CLIENT_ID: graphClientId
    // Firebase Cloud Messaging: the project push notifications are sent through.
    FIREBASE_PROJECT_ID: firebaseProjectId
    // Alert receivers: no loopback port is let through in Azure (https to public addresses only).
    ALERTS_LOOPBACK_PORTS: ''
    // Alert e-mail through the stamp's Communication Services, with the identity's Entra ID token
    // (AZURE_CLIENT_ID below): ACS_EMAIL_CONNECTION_STRING is absent on purpose, the resource
    // refuses access keys.
    ACS_EMAIL_ENDPOINT: emailEndpoint
    ACS_EMAIL_SENDER: emailSender

    // --- Secrets: Key Vault references, one line each ------------------------------------------
    // <SETTING>: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=<secret-name>)'
    // No version in the reference: the app picks up a rotated secret (see infra/README.md).
    API_KEY_PEPPER: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=api-key-pepper)'
    GRAPH_CLIENT_SECRET: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=graph-client-secret)'
    FIREBASE_SERVICE_ACCOUNT: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=firebase-service-account)'
    DEVICE_TOKEN_KEY: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=device-token-key)'
    CONSENT_TOKEN_KEYS: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=consent-token-keys)'
    SUBJECT_KEY_MASTER: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=subject-key-master)'
    SUBJECT_KEY_MASTER_VERSIONS: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=subject-key-master-versions)'
    AUDIT_MAC_KEYS: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=audit-mac-keys)'

    // --- Platform -----------------------------------------------------------------------------
    // Sync functions run on this many worker threads (the default would be fewer than the HTTP
    // executions an instance takes); at least the HTTP concurrency and a queue batch (16 + 8).
    PYTHON_THREADPOOL_THREAD_COUNT: string(pythonThreadCount)
    // Azure SDKs (DefaultAzureCredential) in the app use the stamp identity.
    AZURE_CLIENT_ID: identityClientId
    APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
    // Telemetry is sent with the identity's Entra ID token (the component refuses local auth).
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  }
}

// No deployment with basic (user name + password) credentials, over FTP or SCM.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = app.name
output defaultHostName string = app.properties.defaultHostName
