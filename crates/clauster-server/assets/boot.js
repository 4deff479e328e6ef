// Loads the hydrate bundle and attaches it to the server-rendered page. An external module
// (not an inline script) so the page's CSP needs no 'unsafe-inline'.
const self = new URL(import.meta.url);
const at = (name) => new URL(name + self.search, self);
const bundle = await import(at("clauster.js"));
await bundle.default({ module_or_path: at("clauster.wasm") });
bundle.hydrate();
