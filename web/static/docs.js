// Starts Swagger UI on /docs (app/api/docs.py): a file, not an inline script, so the page's
// Content-Security-Policy needs no 'unsafe-inline'.
"use strict";

window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null, // never ask another site to validate the schema
});
