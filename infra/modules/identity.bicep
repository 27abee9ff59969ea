// The stamp's one identity. It is user-assigned (not system-assigned) so that every role it
// needs exists before the function app starts: Key Vault references and the host's storage
// connection then work on the very first start instead of failing until RBAC catches up.

@description('Azure location of the stamp.')
param location string

@description('Name of the user-assigned managed identity.')
param name string

param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
