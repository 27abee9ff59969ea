// Public DNS zone for the stamps' API host names (global part). Each stamp adds its own
// `<region>` record to it (routing-record.bicep), so adding a region never redeploys the others.

@description('DNS zone, e.g. api.example.com. Delegate it from the parent domain to the zone name servers.')
param name string

param tags object

resource zone 'Microsoft.Network/dnsZones@2018-05-01' = {
  name: name
  location: 'global'
  tags: tags
  properties: {
    zoneType: 'Public'
  }
}

output name string = zone.name
