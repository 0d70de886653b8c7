// Makes wasm-bindgen's JavaScript glue follow wasm-opt's --minify-imports-and-exports-and-modules.
//
// wasm-bindgen names every import after its Rust path plus a 16-digit hash
// (`__wbg_focus_d5e2fdbdb56416f0`), and exports closures' shims under their full type names:
// about 13 KB of the module that brotli cannot shrink much. wasm-opt renames them to one or two
// letters and prints what it renamed; this script makes web.js use the new names. It writes
// nothing unless the renamed glue provides exactly the module's imports and reads only exports
// the module has, so a glue layout it does not know fails the image build, not the page.
//
// usage: node rename-wasm-imports.mjs RENAMES.json web_bg.wasm web.js
import { readFileSync, writeFileSync } from "node:fs";

const [renamesPath, wasmPath, gluePath] = process.argv.slice(2);
if (!gluePath) {
  console.error("usage: rename-wasm-imports.mjs RENAMES.json web_bg.wasm web.js");
  process.exit(2);
}

function fail(message) {
  console.error(`rename-wasm-imports: ${gluePath}: ${message}`);
  process.exit(1);
}

// The text itself as a regular expression.
const literal = (text) => text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
// Nothing that could continue an identifier may touch a name we replace, so `__wbg_get_1` is
// never found inside `__wbg_get_12`.
const identifier = "[A-Za-z0-9_$]";

// wasm-opt 132 leaves a comma before the imports' closing bracket.
const renames = JSON.parse(readFileSync(renamesPath, "utf8").replace(/,(\s*[\]}])/g, "$1"));
const module = new WebAssembly.Module(readFileSync(wasmPath));
const glue = readFileSync(gluePath, "utf8");

// The function that builds the import object: one object per module, one property per import,
// each at the start of its own line: `"./web_bg.js": import0,`, `__wbg_focus_…: function(…) {`.
const importsFunction = /^function __wbg_get_imports\(\) \{\n[\s\S]*?\n\}\n/m;
const found = glue.match(importsFunction);
if (!found) fail("no `function __wbg_get_imports()`: wasm-bindgen's glue changed its layout");
let imports = found[0];

function renameProperty(oldKey, newKey) {
  const property = new RegExp(`^(\\s+)${literal(oldKey)}(?=:)`, "gm");
  const count = (imports.match(property) ?? []).length;
  if (count !== 1) fail(`the import object has ${oldKey} ${count} times, not once`);
  imports = imports.replace(property, (_, indent) => indent + newKey);
}

const newModules = [...new Set(WebAssembly.Module.imports(module).map((entry) => entry.module))];
if (newModules.length !== 1) fail(`the module imports from ${newModules.length} modules, not one`);
for (const oldModule of new Set(renames.imports.map(([oldModule]) => oldModule))) {
  renameProperty(JSON.stringify(oldModule), JSON.stringify(newModules[0]));
}
for (const [, oldName, newName] of renames.imports) renameProperty(oldName, newName);

// The glue reads every export as `wasm.name`.
let renamed = glue.replace(importsFunction, () => imports);
for (const [oldName, newName] of renames.exports) {
  const read = new RegExp(`(?<=\\bwasm\\.)${literal(oldName)}(?!${identifier})`, "g");
  renamed = renamed.replace(read, newName);
}

// What the glue asks of the module now, against what the module has. The glue may provide more
// than the module imports: wasm-opt drops imports that nothing calls, and the glue keeps them.
const provided = new Set(
  [...imports.matchAll(new RegExp(`^ {8}(${identifier}+):`, "gm"))].map(([, key]) => key),
);
provided.delete("__proto__");
const wanted = new Set(WebAssembly.Module.imports(module).map((entry) => entry.name));
for (const name of wanted) if (!provided.has(name)) fail(`the module imports ${name}; web.js does not provide it`);
const exported = new Set(WebAssembly.Module.exports(module).map((entry) => entry.name));
for (const [, name] of renamed.matchAll(new RegExp(`\\bwasm\\.(${identifier}+)`, "g"))) {
  if (!exported.has(name)) fail(`web.js reads wasm.${name}; the module does not export it`);
}
if (/\bwasm\s*\[/.test(renamed)) fail("web.js reads an export by a computed name, which this script cannot follow");

writeFileSync(gluePath, renamed);
console.error(
  `rename-wasm-imports: ${gluePath}: ${wanted.size} imports and ${renames.exports.length} exports renamed`,
);
