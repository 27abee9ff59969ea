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

@description('Resource id of the global Log Analytics workspace (writes, deletes and refusals go there).')
param workspaceId string

param tags object

// ---------------------------------------------------------------------------------------------
// The `control` entries of shared/storage/catalogue.py. tests/infra/test_infra_catalogue.py fails the
// build when this list and the catalogue disagree. Keep control-access.bicep's list the same.
var tables = [
  'partnerdirectory'
  'tenantclaims'
  'orgdirectory'
  'orgpending'
  'notices'
  'plans'
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

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource controlTables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [for table in tables: {
  parent: tableService
  name: table
}]

// ---------------------------------------------------------------------------------------------
// Who wrote or deleted what (and every write or delete refused), in the global workspace: one
// diagnostic setting per data service. Reads are not logged (a line per read would cost more than
// the rest of the stamp); refused reads show in the alert below.
resource blobLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'writes-and-deletes'
  scope: blobService
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'StorageWrite'
        enabled: true
      }
      {
        category: 'StorageDelete'
        enabled: true
      }
    ]
  }
}

resource queueLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'writes-and-deletes'
  scope: queueService
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'StorageWrite'
        enabled: true
      }
      {
        category: 'StorageDelete'
        enabled: true
      }
    ]
  }
}

resource tableLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'writes-and-deletes'
  scope: tableService
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'StorageWrite'
        enabled: true
      }
      {
        category: 'StorageDelete'
        enabled: true
      }
    ]
  }
}

// Every request refused for authentication or authorisation, reads included (the Transactions
// metric counts them by ResponseType at no cost). No action group: attach one per operator.
resource authFailures 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'auth-failures-${name}'
  location: 'global'
  tags: tags
  properties: {
    description: 'Requests to ${name} refused for authentication or authorisation.'
    severity: 2
    enabled: true
    scopes: [
      account.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'refused'
          metricNamespace: 'Microsoft.Storage/storageAccounts'
          metricName: 'Transactions'
          dimensions: [
            {
              name: 'ResponseType'
              operator: 'Include'
              values: [
                'AuthenticationError'
                'AuthorizationError'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Total'
        }
      ]
    }
    actions: []
  }
}

// Deleting the account loses the directory and the claims that route every partner, org and tenant. Management locks do not touch the data plane: the app still creates and drops its
// tables and blobs. Removing the lock is a deliberate step (infra/README.md, "Rollback").
resource lock 'Microsoft.Authorization/locks@2020-05-01' = {
  name: 'tenantry-keep-data'
  scope: account
  properties: {
    level: 'CanNotDelete'
    notes: 'The partner directory and claims of every stamp; remove this lock on purpose before deleting the account.'
  }
}

output name string = account.name
output tableEndpoint string = account.properties.primaryEndpoints.table
