// Starts Swagger UI on this server's OpenAPI document. Everything is served by this server
// (the Content-Security-Policy of /docs allows nothing else): no validator badge, which would
// call an outside service.
window.ui = SwaggerUIBundle({
  url: "/v1/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  tryItOutEnabled: false,
  persistAuthorization: false,
});
