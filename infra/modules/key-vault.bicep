// The stamp's Key Vault: holds the app's secrets (Graph app credential, Firebase service
// account, webhook and API-key peppers, operator API key). Bicep never writes a secret value:
// operators set them with `az keyvault secret set` (see infra/README.md), so no secret passes
// through deployment parameters or deployment history. The app reads them only through
// `@Microsoft.KeyVault(...)` references in its app settings.

@description('Azure location of the stamp.')
param location string

param name string

@description('default creates (or updates) the vault; recover brings back this name\'s vault from soft delete.')
@allowed([
  'default'
  'recover'
])
param createMode string

@description('Principal id of the stamp identity, which reads secrets.')
param readerPrincipalId string

@description('Resource id of the stamp Log Analytics workspace, which receives the vault audit log.')
param workspaceId string

param tags object

// Built-in role: Key Vault Secrets User (read secret values; cannot list keys, write or delete).
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    // A vault deleted with its stamp stays in soft delete for 90 days (purge protection), and its
    // name with it: a redeploy of the same stamp must recover it (infra/README.md, "Rollback").
    createMode: createMode
    sku: {
      family: 'A'
      name: 'standard'
    }
    // Access is Azure RBAC only; no access policies that could grant more than a role does.
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    // A deleted vault or secret cannot be purged before the retention ends, not even by an owner.
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    // The Flex Consumption app reaches the vault over its public endpoint (no VNet in this
    // design, see checkov-skips.yaml); RBAC on the stamp identity is the gate.
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, readerPrincipalId, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: readerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Who read or changed which secret, kept in the stamp's own workspace.
resource auditLog 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit-to-log-analytics'
  scope: vault
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        categoryGroup: 'audit'
        enabled: true
      }
    ]
  }
}

// Deleting the vault loses every secret (and, for subject-key-master, every sealed audit field):
// removing this lock is a deliberate step of its own (infra/README.md, "Rollback").
resource lock 'Microsoft.Authorization/locks@2020-05-01' = {
  name: 'tenantry-keep-vault'
  scope: vault
  properties: {
    level: 'CanNotDelete'
    notes: 'Holds the stamp secrets; remove this lock on purpose before deleting the vault.'
  }
}

output name string = vault.name
output uri string = vault.properties.vaultUri
