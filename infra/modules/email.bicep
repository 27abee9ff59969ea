// The stamp's alert e-mail: Azure Communication Services Email. An Email Communication Service
// holds the stamp's sender domain (customer managed: the operator publishes its DNS records,
// infra/README.md "Alert e-mail"), and a Communication Services resource linked to that domain
// is what the app sends through. The app authenticates with the stamp identity only: local
// (access key) authentication is off, so no connection string exists to leak or to rotate.

@description('Name of the Communication Services resource (the app\'s endpoint).')
param communicationName string

@description('Name of the Email Communication Service that holds the sender domain.')
param emailServiceName string

@description('The stamp\'s sender domain, e.g. eu.mail.example.com (customer managed: its DNS records are published by the operator).')
param senderDomain string

@description('The mailbox name alert e-mails come from on the sender domain (ACS_EMAIL_SENDER = <name>@<domain>).')
param senderUsername string = 'DoNotReply'

@description('Where ACS keeps e-mail data at rest (an ACS data location, e.g. Europe or United States): the stamp\'s own geography.')
param dataLocation string

@description('Principal id of the stamp identity, which sends the e-mails.')
param senderPrincipalId string

param tags object

// Built-in role: Communication and Email Service Owner. ACS honours no custom role and has no
// narrower built-in one for sending, so the identity gets this role on this one resource only
// (CKV_TNT_4 allows it on a Communication Services resource and nowhere else).
var communicationEmailOwner = '09976791-48a7-449e-bb21-39d1a415f350'

// ACS resources are global; `dataLocation` is what keeps the data in the stamp's geography.
resource emailService 'Microsoft.Communication/emailServices@2025-05-01' = {
  name: emailServiceName
  location: 'global'
  tags: tags
  properties: {
    dataLocation: dataLocation
  }
}

resource domain 'Microsoft.Communication/emailServices/domains@2025-05-01' = {
  parent: emailService
  name: senderDomain
  location: 'global'
  tags: tags
  properties: {
    domainManagement: 'CustomerManaged'
    // No tracking pixels or rewritten links in alert e-mails.
    userEngagementTracking: 'Disabled'
  }
}

resource sender 'Microsoft.Communication/emailServices/domains/senderUsernames@2025-05-01' = {
  parent: domain
  name: toLower(senderUsername)
  properties: {
    username: senderUsername
    displayName: 'Tenantry alerts'
  }
}

resource communication 'Microsoft.Communication/communicationServices@2025-05-01' = {
  name: communicationName
  location: 'global'
  tags: tags
  properties: {
    dataLocation: dataLocation
    linkedDomains: [
      domain.id
    ]
    // Entra ID tokens only: the access keys (and connection strings made of them) are refused.
    disableLocalAuth: true
  }
}

resource sendAs 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(communication.id, senderPrincipalId, communicationEmailOwner)
  scope: communication
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', communicationEmailOwner)
    principalId: senderPrincipalId
    principalType: 'ServicePrincipal'
  }
}

@description('ACS_EMAIL_ENDPOINT: the Communication Services endpoint the app sends through.')
output endpoint string = 'https://${communication.properties.hostName}'

@description('ACS_EMAIL_SENDER: the sender address on the stamp\'s domain.')
output senderAddress string = '${sender.properties.username}@${senderDomain}'

@description('The DNS records the operator publishes for the sender domain (domain, SPF, DKIM, DKIM2).')
output verificationRecords object = domain.properties.verificationRecords
