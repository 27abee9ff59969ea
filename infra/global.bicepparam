// The global part (control account and its log workspace). Not a region: deployed with global.bicep.
using './global.bicep'

// prod, staging, ...: the same value for the global part and every stamp of that environment.
param environment = readEnvironmentVariable('TENANTRY_ENVIRONMENT')
param location = 'westeurope'
