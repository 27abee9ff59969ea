// The storage account of one region: every table row, blob and queue message about the partners
// who chose this region lives here and nowhere else. It also carries the Functions host's own
// state (leases, timers, host keys) and the app package the Flex Consumption app runs from.
//
// Only the stamp's managed identity reaches it (shared keys are disabled), with the three data
// roles granted below on this account alone.

@description('Azure location of the stamp.')
param location string

@description('Storage account name (3-24 lowercase letters and digits, globally unique).')
@minLength(3)
@maxLength(24)
param name string

@description('Replication. ZRS keeps three copies in different zones of the same region, so data never leaves the region.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
])
param skuName string

@description('Principal id of the stamp identity, the only reader and writer of this account.')
param dataPrincipalId string

@description('Resource id of the stamp Log Analytics workspace (writes, deletes and refusals go there).')
param workspaceId string

param tags object

// ---------------------------------------------------------------------------------------------
// What the app keeps here: the `regional` entries of shared/storage/catalogue.py, by kind.
// tests/infra/test_infra_catalogue.py fails the build when this list and the catalogue disagree.
// Bucketed tables (`<name><yyyymm>`) are created by the app at run time: do not list them.
// Queues get a `<name>-poison` twin from the Functions host: do not list those either.
var tables = [
  'partners'
  'personnel'
  'apikeys'
  'tenantgroups'
  'usage'
  'apicalls'
  'sessionevents'
  'idempotency'
  'invoices'
  'privacysettings'
  'privacysweeps'
  'keyrewraps'
  'breaches'
  'privacyrequests'
  'complaints'
  'correspondence'
  'tenants'
  'adminconsents'
  'tenantsyncs'
  'tenantusers'
  'tenantdirgroups'
  'tenantbaselines'
  'tenantlifecycle'
  'standardassignments'
  'standardruns'
  'orgs'
  'orgusers'
  'orgrules'
  'devices'
  'notifications'
  'notifydeliveries'
  'consentcontacts'
  'consentledger'
  'consentoutbox'
  'consentthrottle'
  'subjectindex'
  'subjectkeys'
  'subjectflags'
  'reportrows'
  'alertsubscriptions'
  'alertdeliveries'
  'alertconditions'
  'poisonmessages'
]
var queues = [
  'tenantsync'
  'tenantoffboard'
  'standardrun'
  'notifyfanout'
  'privacyjobs'
  'partnerexport'
  'auditverify'
  'alertevents'
  'alertsend'
  'alertretry'
]
var containers = [
  'tenantsnapshots'
  'notifypayloads'
  'privacyexports'
  'partnerexports'
  'auditanchors'
]

// Blobs that storage itself deletes, from the retention table in the design notes. One entry per
// catalogue container whose retention storage can enforce: { container: '<name>', days: <n> }.
// For example, when those containers land in the catalogue: DSR export packages 7 days,
// transient notification payloads 1 day. The lifecycle engine runs about once a day, so a blob
// goes within a day after its limit.
var blobRetention = [
  { container: 'notifypayloads', days: 1 }
  { container: 'privacyexports', days: 7 }
  { container: 'partnerexports', days: 30 }
]

// The write-once container of audit anchors and how long each blob stays immutable (25 months).
var auditAnchorsContainer = 'auditanchors'
var auditAnchorsImmutableDays = 765

// The container the Flex Consumption app package is deployed to (infrastructure, not app data).
var deploymentContainerName = 'app-package'
// ---------------------------------------------------------------------------------------------

// Built-in roles (data plane only; none of them can read account keys or change the account).
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // the Functions host's storage needs Owner (blob leases and host keys)
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'

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
    // Flex Consumption without a VNet reaches storage over its public endpoint; access needs an
    // Entra ID token of the stamp identity. See checkov-skips.yaml.
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      // A second, infrastructure-level layer of AES-256 encryption. Can only be set at creation.
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
        // Account-scoped keys so that tables and queues get infrastructure encryption too.
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

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    // Soft delete: a blob or container deleted by mistake can be restored for 7 days. Kept short
    // so that erased personal data is also gone from soft-deleted copies within days.
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    // No versioning and no change feed: both would keep copies of erased data indefinitely.
    isVersioningEnabled: false
    changeFeed: {
      enabled: false
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource appContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for container in containers: {
  parent: blobService
  name: container
  properties: {
    publicAccess: 'None'
  }
}]

// The audit anchors (shared/audit/anchors.py): each audit lane's head, appended per day to a blob that
// nobody may change or delete for 25 months (the log's 24 and a month), whoever holds the events
// table. Protected append writes let the timer keep appending to today's blob; everything else
// (overwrite, delete) is refused by storage itself. CKV_TNT_9 holds this policy. Lock it after the
// first deployment (`az storage container immutability-policy lock`, infra/README.md): an unlocked
// policy can still be removed through the control plane.
resource auditAnchorsWorm 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies@2023-05-01' = {
  name: '${account.name}/default/${auditAnchorsContainer}/default'
  properties: {
    immutabilityPeriodSinceCreationInDays: auditAnchorsImmutableDays
    allowProtectedAppendWrites: true
  }
  dependsOn: [
    appContainers
  ]
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource appTables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [for table in tables: {
  parent: tableService
  name: table
}]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource appQueues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for queue in queues: {
  parent: queueService
  name: queue
}]

// A management policy needs at least one rule, so it exists only once a retention is listed.
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = if (!empty(blobRetention)) {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: [for rule in blobRetention: {
        name: 'delete-${rule.container}-after-${rule.days}-days'
        enabled: true
        type: 'Lifecycle'
        definition: {
          filters: {
            blobTypes: [
              'blockBlob'
            ]
            prefixMatch: [
              '${rule.container}/'
            ]
          }
          actions: {
            baseBlob: {
              delete: {
                daysAfterCreationGreaterThan: rule.days
              }
            }
          }
        }
      }]
    }
  }
}

// The stamp identity's data roles, on this account only (never on another region's account).
// The condition takes blob deletes in the audit anchors away from the identity: the immutability
// policy refuses them anyway; without the right, a compromised app cannot even try after it ends.
resource blobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, dataPrincipalId, storageBlobDataOwner)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: dataPrincipalId
    principalType: 'ServicePrincipal'
    conditionVersion: '2.0'
    condition: '((!(ActionMatches{\'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete\'})) OR (@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] StringNotEquals \'${auditAnchorsContainer}\'))'
  }
}

resource queueDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, dataPrincipalId, storageQueueDataContributor)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributor)
    principalId: dataPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Account scope (not per table) because the app creates its monthly bucket tables at run time.
resource tableDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, dataPrincipalId, storageTableDataContributor)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributor)
    principalId: dataPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// ---------------------------------------------------------------------------------------------
// Who wrote or deleted what (and every write or delete refused), in the region's workspace: one
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

// Deleting the account deletes every partner's data of the region. Management locks do not touch the data plane: the app still creates and drops its
// tables and blobs. Removing the lock is a deliberate step (infra/README.md, "Rollback").
resource lock 'Microsoft.Authorization/locks@2020-05-01' = {
  name: 'tenantry-keep-data'
  scope: account
  properties: {
    level: 'CanNotDelete'
    notes: 'Every row, blob and queue message of the region; remove this lock on purpose before deleting the account.'
  }
}

output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output queueEndpoint string = account.properties.primaryEndpoints.queue
output tableEndpoint string = account.properties.primaryEndpoints.table
output deploymentContainerUrl string = '${account.properties.primaryEndpoints.blob}${deploymentContainerName}'
