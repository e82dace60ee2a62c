// Parses every PromQL expression given as a JSON array on stdin with the Prometheus project's own
// grammar (npm @prometheus-io/lezer-promql) and exits 1 naming any that does not parse.
const { parser } = require("@prometheus-io/lezer-promql");
const exprs = JSON.parse(require("fs").readFileSync(0, "utf8"));
let bad = 0;
for (const expr of exprs) {
  const tree = parser.parse(expr);
  let error = null;
  tree.iterate({
    enter(node) {
      if (node.type.isError && error === null) error = node.from;
    },
  });
  if (error !== null) {
    bad += 1;
    console.error(`PromQL syntax error at ${error}: ${expr}`);
  }
}
console.log(`promql: ${exprs.length} expressions parsed, ${bad} with errors`);
process.exit(bad ? 1 : 0);
