// Validates rendered Kubernetes objects offline:
//   node validate_k8s.mjs NODE_MODULES OBJECTS.json ALLOWED_KEYS.json
// 1. each object against Kubernetes' schema (npm kubernetes-models: its
//    validate() checks types, required fields and formats, but accepts
//    unknown fields), kinds outside core Kubernetes (NodeFeatureRule) only
//    by step 2;
// 2. every key path of every object against an allow-list per kind, so a
//    misspelt or misplaced key fails too. Paths: a.b[].c, map keys as *;
//    the user's own affinity and tolerations are left to the schema.
// Prints one line per object; exit 1 on the first batch with errors.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [nodeModules, objectsFile, allowFile] = process.argv.slice(2);
const objects = JSON.parse(fs.readFileSync(objectsFile, "utf8"));
const allow = JSON.parse(fs.readFileSync(allowFile, "utf8"));
const freeMaps = new Set(allow["*maps"]); // keys whose children are free-form names
const freeTrees = allow["*free"] || []; // user-supplied subtrees: schema-checked only

function paths(v, prefix, out) {
  if (Array.isArray(v)) {
    for (const x of v) paths(x, prefix + "[]", out);
  } else if (v && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) {
      const key = freeMaps.has(prefix) ? "*" : k;
      const p = prefix ? prefix + "." + key : key;
      out.add(p);
      paths(x, p, out);
    }
  }
  return out;
}

let bad = 0;
for (const obj of objects) {
  const id = `${obj.kind}/${obj.metadata && obj.metadata.name}`;
  const errors = [];
  const [group, version] = obj.apiVersion.includes("/") ? obj.apiVersion.split("/") : [null, obj.apiVersion];
  const modelPath = path.join(nodeModules, "kubernetes-models", group || "", version, obj.kind + ".js");
  let schema = "no core schema";
  if (fs.existsSync(modelPath)) {
    const mod = await import(pathToFileURL(modelPath).href);
    const Model = mod.default || mod[obj.kind];
    try {
      new Model(obj).validate();
      schema = "schema ok";
    } catch (e) {
      errors.push("schema: " + (e.message || String(e)).split("\n").slice(0, 4).join(" "));
    }
  } else if (!(allow["*noSchema"] || []).includes(obj.kind)) {
    errors.push(`no schema for ${obj.apiVersion} ${obj.kind} and not an allowed CRD kind`);
  }
  const allowed = new Set(allow[obj.kind] || []);
  for (const p of paths(obj, "", new Set())) {
    if (freeTrees.some((f) => p.startsWith(f + ".") || p.startsWith(f + "[]."))) continue;
    if (!allowed.has(p)) errors.push("key not allowed: " + p);
  }
  if (errors.length) {
    bad++;
    console.log(`FAIL ${id}: ${errors.join("; ")}`);
  } else {
    console.log(`ok ${id} (${schema}, keys allowed)`);
  }
}
process.exit(bad ? 1 : 0);
