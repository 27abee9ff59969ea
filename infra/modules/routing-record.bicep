// Deployed by each stamp into the global resource group: `<region>.<zone>` points at the
// stamp's function app, and `asuid.<region>.<zone>` proves domain ownership to App Service so
// the host name can be bound to the app (binding steps: infra/README.md).

param dnsZoneName string

@description('Region key of the stamp; becomes the record name.')
param region string

@description('Default host name of the stamp function app.')
param targetHostName string

@description('customDomainVerificationId of the stamp function app.')
param verificationId string

resource zone 'Microsoft.Network/dnsZones@2018-05-01' existing = {
  name: dnsZoneName
}

resource stampRecord 'Microsoft.Network/dnsZones/CNAME@2018-05-01' = {
  parent: zone
  name: region
  properties: {
    TTL: 300
    CNAMERecord: {
      cname: targetHostName
    }
  }
}

resource ownershipRecord 'Microsoft.Network/dnsZones/TXT@2018-05-01' = {
  parent: zone
  name: 'asuid.${region}'
  properties: {
    TTL: 3600
    TXTRecords: [
      {
        value: [
          verificationId
        ]
      }
    ]
  }
}

output hostName string = '${region}.${dnsZoneName}'
