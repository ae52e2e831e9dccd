#!/usr/bin/env node
// The `cordon` command: runs the compiled CLI (npm run build:ts makes dist/).
require('../dist/apps/cli/src/main.js');
