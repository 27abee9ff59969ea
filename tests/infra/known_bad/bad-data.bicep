// Known-bad Bicep: storage, vault and monitoring settings the custom checks must reject. Never deployed.

// CKV_TNT_5: shared keys allowed, no infrastructure encryption.
resource keyedAccount 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'stkeyedaccount'
  location: 'westeurope'
  kind: 'StorageV2'
  sku: {
    name: 'Standard_ZRS'
  }
  properties: {
    supportsHttpsTrafficOnly: true
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: true
    isLocalUserEnabled: false
  }
}

// CKV_TNT_6: no container soft delete, and versions that outlive an erasure.
resource noSoftDelete 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: keyedAccount
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    isVersioningEnabled: true
  }
}

// CKV_TNT_7: access policies instead of RBAC, no purge protection.
resource policyVault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: 'kvpolicyvault'
  location: 'westeurope'
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: false
    accessPolicies: []
  }
}

// CKV_TNT_8: ten years of logs, and workspace keys allowed.
resource longLogs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-long'
  location: 'westeurope'
  properties: {
    retentionInDays: 3650
  }
}

// CKV_TNT_8: instrumentation-key ingestion allowed.
resource keyedInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-keyed'
  location: 'westeurope'
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: longLogs.id
    DisableLocalAuth: false
  }
}

// CKV_TNT_9: a short immutability that also lets block blobs in beside the appends.
resource shortWorm 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies@2023-05-01' = {
  name: 'stkeyedaccount/default/auditanchors/default'
  properties: {
    immutabilityPeriodSinceCreationInDays: 30
    allowProtectedAppendWrites: true
    allowProtectedAppendWritesAll: true
  }
}

// CKV_TNT_9: long enough, but no protected appends (the anchors could not be written).
resource noAppends 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies@2023-05-01' = {
  name: 'stkeyedaccount/default/auditanchors2/default'
  properties: {
    immutabilityPeriodSinceCreationInDays: 765
    allowProtectedAppendWrites: false
  }
}
