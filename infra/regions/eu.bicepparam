// Stamp `eu`: the app region key `eu`, hosted in Azure West Europe.
using '../main.bicep'

// prod, staging, ...: the same value as for the global part of that environment.
param environment = readEnvironmentVariable('TENANTRY_ENVIRONMENT')
param region = 'eu'
param location = 'westeurope'
// Output controlStorageAccountName of the global deployment (see infra/README.md).
param controlStorageAccountName = readEnvironmentVariable('TENANTRY_CONTROL_STORAGE')
// The API's app registration tokens are issued for: its App ID URI and its client id.
param entraAudience = readEnvironmentVariable('TENANTRY_ENTRA_AUDIENCE')
param entraClientId = readEnvironmentVariable('TENANTRY_ENTRA_CLIENT_ID')
// The partner portal's own (SPA) app registration, which signs personnel in at /.
param portalClientId = readEnvironmentVariable('TENANTRY_PORTAL_CLIENT_ID')
// The operator's own Entra tenant (operator tokens with the app role Tenantry.Operator).
param operatorTenantId = readEnvironmentVariable('TENANTRY_OPERATOR_TENANT_ID')
// The Firebase project push notifications go through (its key is the Key Vault secret firebase-service-account).
param firebaseProjectId = readEnvironmentVariable('TENANTRY_FIREBASE_PROJECT_ID')
// The multi-tenant Graph app (GDAP) customer tenants are reached with (its secret: graph-client-secret).
param graphClientId = readEnvironmentVariable('TENANTRY_GRAPH_CLIENT_ID')
// recover only while this stamp's deleted vault is in soft delete (infra/README.md, "Rollback").
param keyVaultCreateMode = readEnvironmentVariable('TENANTRY_KEY_VAULT_CREATE_MODE', 'default')
// The stamp's alert e-mail sender domain (its DNS records: infra/README.md, step 4).
param emailSenderDomain = readEnvironmentVariable('TENANTRY_EMAIL_DOMAIN_EU')
// Azure Communication Services keeps this stamp's e-mail data in its own geography.
param emailDataLocation = 'Europe'
