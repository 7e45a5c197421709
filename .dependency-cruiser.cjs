// Which top-level folder may import which (npm run lint checks it over the TypeScript sources).
// systems/ are independent programs a user could replace, so they share only protocols/ with the
// harness; reports read stored runs and must not need the engine; checkers are pure functions.
// Type-only imports count: a type from the harness ties a system to the harness all the same.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "systems-independent",
      comment: "systems/ import only systems/ and protocols/ (and node built-ins and npm packages)",
      severity: "error",
      from: { path: "^systems/" },
      to: { path: "^(harness|workloads|checkers|reports|bench|scripts|test)/" },
    },
    {
      name: "engine-not-systems",
      comment: "harness/, workloads/, checkers/ and reports/ never import a system: they run it",
      severity: "error",
      from: { path: "^(harness|workloads|checkers|reports)/" },
      to: { path: "^systems/" },
    },
    {
      name: "protocols-self-contained",
      comment: "protocols/ import nothing outside protocols/ but node built-ins",
      severity: "error",
      from: { path: "^protocols/" },
      to: { pathNot: "^protocols/", dependencyTypesNot: ["core"] },
    },
    {
      name: "reports-no-engine",
      comment:
        "reports/ may import checkers/ and protocols/, not the engine (harness may import reports)",
      severity: "error",
      from: { path: "^reports/" },
      to: { path: "^(harness|workloads|systems|bench|scripts)/" },
    },
    {
      name: "workloads-no-harness",
      comment: "workloads/ never import harness/ or reports/",
      severity: "error",
      from: { path: "^workloads/" },
      to: { path: "^(harness|reports|bench|scripts)/" },
    },
    {
      name: "checkers-pure",
      comment: "checkers/ import nothing from harness/, workloads/, reports/, systems/",
      severity: "error",
      from: { path: "^checkers/" },
      to: { path: "^(harness|workloads|reports|systems|bench|scripts)/" },
    },
    {
      name: "no-circular",
      comment: "no import cycles",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "not-to-unresolvable",
      comment: "an import the cruiser cannot resolve would escape every rule above",
      severity: "error",
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(dist|store)/" },
    // Read the TypeScript before compilation, so type-only imports are seen too.
    tsPreCompilationDeps: true,
    // Resolves NodeNext's `./x.js` to `./x.ts` as tsc does.
    tsConfig: { fileName: "tsconfig.json" },
    // Packages' subpath exports (pure-rand/generator/...) resolve as Node resolves ESM imports.
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "types", "node", "default"],
    },
  },
};
