// The API reference over this app's own OpenAPI document. "Try it out" calls the host the page
// came from (the document names no server); "Authorize" takes an API key (x-api-key) or a token,
// and keeps it across reloads.
window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: true,
  displayRequestDuration: true,
  tryItOutEnabled: true,
});
