/**
 * Jest transform for PGlite's CommonJS build: it loads Node built-ins with
 * `await import("fs")`, which Jest's sandbox refuses unless node runs with
 * --experimental-vm-modules. Built-ins are the same through require(), so the
 * dynamic imports of built-in modules become synchronous requires, in tests only.
 */
const crypto = require('node:crypto');
module.exports = {
  process(src) {
    // A hoisted `var require` inside PGlite shadows the module's require, hence the alias.
    return { code: 'const __cordonRequire = require;' + src.replace(/\bimport\(("(?:node:)?[a-z_/]+")\)/g, 'Promise.resolve(__cordonRequire($1))') };
  },
  getCacheKey(src, file) {
    return crypto.createHash('sha1').update('v2').update(file).update(src).digest('hex');
  },
};
