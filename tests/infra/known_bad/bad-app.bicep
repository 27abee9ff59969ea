// Known-bad Bicep: each resource here breaks one Tenantry custom check on purpose, so that
// tests/infra/test_checkov.py can prove the checks still see what they are for. Never deployed.

resource plan 'Microsoft.Web/serverfarms@2024-04-01' existing = {
  name: 'plan'
}

// CKV_TNT_1: the package is fetched with a storage connection string (a key in a setting).
// CKV_TNT_2: Python 3.10, FTP allowed.
resource keyedApp 'Microsoft.Web/sites@2024-04-01' = {
  name: 'keyed-app'
  location: 'westeurope'
  kind: 'functionapp,linux'
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'AllAllowed'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: 'https://example.blob.core.windows.net/app-package'
          authentication: {
            type: 'StorageAccountConnectionString'
            storageAccountConnectionStringName: 'DEPLOYMENT_STORAGE_CONNECTION_STRING'
          }
        }
      }
      runtime: {
        name: 'python'
        version: '3.10'
      }
    }
  }
}

// CKV_TNT_2: right in every other way, but `ftpsState` (even 'Disabled') fails a Flex deployment.
resource ftpsApp 'Microsoft.Web/sites@2024-04-01' = {
  name: 'ftps-app'
  location: 'westeurope'
  kind: 'functionapp,linux'
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: 'https://example.blob.core.windows.net/app-package'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: '/subscriptions/x/resourceGroups/y/providers/Microsoft.ManagedIdentity/userAssignedIdentities/z'
          }
        }
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// CKV_TNT_3: a literal secret.
resource literalSecret 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: keyedApp
  name: 'appsettings'
  properties: {
    OPERATOR_API_KEY: 'fake-operator-key-0123456789abcdefghij'
  }
}

// CKV_TNT_3: a connection string with an account key.
resource keyedConnection 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: keyedApp
  name: 'appsettings'
  properties: {
    AzureWebJobsStorage: 'DefaultEndpointsProtocol=https;AccountName=example;AccountKey=ZmFrZQ=='
  }
}

// CKV_TNT_3: a secret passed in as a parameter is still plain text in the app settings.
@secure()
param operatorApiKey string

resource secretParameter 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: keyedApp
  name: 'appsettings'
  properties: {
    OPERATOR_API_KEY: operatorApiKey
  }
}
