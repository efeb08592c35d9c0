#!/usr/bin/env node
/** Stand-alone bin: `node dist/lib/server/main.js [options]` = `facemesh serve [options]`. */
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { addServeOptions, runServe } from "./command.js";

const args = await addServeOptions(yargs(hideBin(process.argv)))
  .scriptName("facemesh-server")
  .usage("$0 [options]\n\nNOVA-Server (DISCOVER) compatible job server for modules with a nova-plugin.json.")
  .strict()
  .help()
  .version(false)
  .parse();
await runServe(args);
