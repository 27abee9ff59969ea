// The control storage account (global part, one per deployment): the partner directory that
// maps a partner id to its region. It holds nothing personal and no region's data. Every stamp
// grants its own identity access to the control tables only (control-access.bicep), never to
// the whole account.

@description('Azure location of the global part.')
param location string

@description('Storage account name (3-24 lowercase letters and digits, globally unique).')
@minLength(3)
@maxLength(24)
param name string

@description('Replication of the directory. ZRS: three copies in different zones of one region.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
])
param skuName string

param tags object

// ---------------------------------------------------------------------------------------------
// The `control` entries of shared/storage/catalogue.py. tests/infra/test_catalogue.py fails the
// build when this list and the catalogue disagree. Keep control-access.bicep's list the same.
var tables = [
  'partnerdirectory'
  'orgdirectory'
]
// ---------------------------------------------------------------------------------------------

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    supportsHttpsTrafficOnly: true
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    // Managed identity only: no account keys, no SAS signed with them, no local SFTP users.
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    isLocalUserEnabled: false
    isSftpEnabled: false
    allowCrossTenantReplication: false
    // Reached by every stamp's app over the public endpoint with an Entra ID token.
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
          keyType: 'Account'
        }
        file: {
          enabled: true
          keyType: 'Account'
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

// No blobs are kept here, but soft delete stays on so that a future container is protected.
resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    isVersioningEnabled: false
    changeFeed: {
      enabled: false
    }
  }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource controlTables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [for table in tables: {
  parent: tableService
  name: table
}]

output name string = account.name
output tableEndpoint string = account.properties.primaryEndpoints.table
