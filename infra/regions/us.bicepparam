// Stamp `us`: the app region key `us`, hosted in Azure East US 2.
using '../main.bicep'

param region = 'us'
param location = 'eastus2'
// Output controlStorageAccountName of the global deployment (see infra/README.md).
param controlStorageAccountName = readEnvironmentVariable('TENANTRY_CONTROL_STORAGE')
// The app registration personnel tokens are issued for (client id or App ID URI).
param entraAudience = readEnvironmentVariable('TENANTRY_ENTRA_AUDIENCE')
// The Firebase project push notifications go through (its key is the Key Vault secret firebase-service-account).
param firebaseProjectId = readEnvironmentVariable('TENANTRY_FIREBASE_PROJECT_ID')
// Same zone as global.bicepparam; empty: no DNS records.
param dnsZoneName = readEnvironmentVariable('TENANTRY_DNS_ZONE', '')
