// The global part's Log Analytics workspace: the control account's writes, deletes and refused
// requests. No Application Insights here: no code runs in the global part.

@description('Azure location of the global part.')
param location string

param name string

@description('Days the workspace keeps logs (at most 730: the 24 months of the audit promise).')
@minValue(30)
@maxValue(730)
param retentionInDays int

param tags object

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      // Only Entra ID (RBAC) callers may query or ingest; no workspace keys.
      disableLocalAuth: true
      enableLogAccessUsingOnlyResourcePermissions: true
    }
    publicNetworkAccessForIngestion: 'Enabled'
    publicNetworkAccessForQuery: 'Enabled'
  }
}

output workspaceId string = workspace.id
