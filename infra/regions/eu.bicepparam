// Stamp `eu`: the app region key `eu`, hosted in Azure West Europe.
using '../main.bicep'

param region = 'eu'
param location = 'westeurope'
// Output controlStorageAccountName of the global deployment (see infra/README.md).
param controlStorageAccountName = readEnvironmentVariable('TENANTRY_CONTROL_STORAGE')
// The app registration personnel tokens are issued for (client id or App ID URI).
param entraAudience = readEnvironmentVariable('TENANTRY_ENTRA_AUDIENCE')
// The Firebase project push notifications go through (its key is the Key Vault secret firebase-service-account).
param firebaseProjectId = readEnvironmentVariable('TENANTRY_FIREBASE_PROJECT_ID')
// Same zone as global.bicepparam; empty: no DNS records.
param dnsZoneName = readEnvironmentVariable('TENANTRY_DNS_ZONE', '')
