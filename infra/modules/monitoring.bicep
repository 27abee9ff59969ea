// Logs and telemetry of one stamp: a Log Analytics workspace and a workspace-based Application
// Insights component. Both refuse key-based (local) authentication: the function app ingests
// with its managed identity (Monitoring Metrics Publisher, granted below on this component only).

@description('Azure location of the stamp.')
param location string

param workspaceName string
param appInsightsName string

@description('Days the workspace keeps logs. The audit promises need at most 24 months (730 days); operational telemetry needs far less.')
@minValue(30)
@maxValue(730)
param retentionInDays int

@description('Principal id of the stamp identity, which publishes telemetry.')
param publisherPrincipalId string

param tags object

// Built-in role: Monitoring Metrics Publisher (lets an identity send telemetry, nothing else).
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: workspaceName
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

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    // Telemetry is accepted only with an Entra ID token (APPLICATIONINSIGHTS_AUTHENTICATION_STRING).
    DisableLocalAuth: true
    // Keep the default masking of client IP addresses: API call logs must not hold full IPs.
    DisableIpMasking: false
    IngestionMode: 'LogAnalytics'
    publicNetworkAccessForIngestion: 'Enabled'
    publicNetworkAccessForQuery: 'Enabled'
  }
}

resource publisherRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, publisherPrincipalId, monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: publisherPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output workspaceId string = workspace.id
output appInsightsName string = appInsights.name
// The connection string names the component (instrumentation key + ingestion endpoint). It is an
// identifier, not a credential: with local auth disabled, ingestion needs the identity's token.
output appInsightsConnectionString string = appInsights.properties.ConnectionString
