// Starts Swagger UI on /docs (kept out of the HTML so the CSP can forbid inline scripts).
window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
