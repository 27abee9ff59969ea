// Known-bad Bicep: role assignments that CKV_TNT_4 must reject. Never deployed.

param principalId string

resource otherRegionAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: 'stusotherregion'
}

resource ownAccount 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'stownaccount'
  location: 'westeurope'
  kind: 'StorageV2'
  sku: {
    name: 'Standard_ZRS'
  }
}

// No scope: the grant would cover the whole resource group.
resource unscoped 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(principalId, 'unscoped')
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3')
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Another region's account, which this file does not own.
resource otherRegion 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(otherRegionAccount.id, principalId, 'table')
  scope: otherRegionAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3')
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Owner is not a data-plane role.
resource owner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(ownAccount.id, principalId, 'owner')
  scope: ownAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '8e3af657-a8ff-443c-a75c-2fe8c4bcb635')
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// A person's literal object id instead of the stamp identity.
resource literalPrincipal 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(ownAccount.id, 'someone')
  scope: ownAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3')
    principalId: '00000000-0000-0000-0000-000000000001'
    principalType: 'User'
  }
}

// The ACS sending role is allowed on a Communication Services resource only, not on an account.
resource acsRoleOnStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(ownAccount.id, principalId, 'acs')
  scope: ownAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '09976791-48a7-449e-bb21-39d1a415f350')
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
