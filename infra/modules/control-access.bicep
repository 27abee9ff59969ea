// Deployed by each stamp into the global resource group: lets that stamp's identity read and
// write the rows of the control tables. The grant is on each control table, not on the control
// account, so a stamp cannot touch anything else there (another stamp's grants, future
// containers), nor list or create tables: the app never does (the global part creates them).

@description('Name of the control storage account (output of global.bicep).')
param controlStorageAccountName string

@description('Principal id of the stamp identity.')
param principalId string

// The control tables of shared/storage/catalogue.py; the same list as control-storage.bicep.
var tables = [
  'partnerdirectory'
  'tenantclaims'
  'orgdirectory'
  'orgpending'
  'notices'
  'plans'
]

// Built-in role: Storage Table Data Contributor (read, write and delete entities).
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: controlStorageAccountName
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' existing = {
  parent: account
  name: 'default'
}

resource controlTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' existing = [for table in tables: {
  parent: tableService
  name: table
}]

resource tableAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (table, i) in tables: {
  name: guid(controlTable[i].id, principalId, storageTableDataContributor)
  scope: controlTable[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}]
