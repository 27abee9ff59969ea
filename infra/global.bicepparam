// The global part (control account, DNS zone). Not a region: deployed with global.bicep.
using './global.bicep'

param location = 'westeurope'
// Public DNS zone for `<region>.<zone>` API host names; empty: no DNS zone.
param dnsZoneName = readEnvironmentVariable('TENANTRY_DNS_ZONE', '')
