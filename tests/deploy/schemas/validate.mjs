// Validates Argo Workflow and CronWorkflow YAML documents (as JSON on stdin: a list of objects)
// against Argo's published schema, through the validators @kubernetes-models/argo-workflows
// generates from it. Prints one line per object; exits 1 when any is invalid.
import { readFileSync } from "node:fs";
import { CronWorkflow } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/CronWorkflow";
import { Workflow } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Workflow";

const models = { Workflow, CronWorkflow };
let failed = false;
for (const object of JSON.parse(readFileSync(0, "utf8"))) {
  const Model = models[object.kind];
  if (!Model) {
    console.log(`invalid: unknown kind ${object.kind}`);
    failed = true;
    continue;
  }
  try {
    new Model(object).validate();
    console.log(`valid: ${object.kind}`);
  } catch (error) {
    console.log(`invalid: ${object.kind}: ${error.message}`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
