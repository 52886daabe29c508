// An IOHandler that loads a TF.js graph model from a directory: pure @tensorflow/tfjs cannot
// read file:// URLs in Node. Give it to tf.loadGraphModel, or as modelUrl to
// @tensorflow-models/mobilenet.
import fs from 'node:fs';
import path from 'node:path';

/** An IOHandler that reads model.json and its weight shards from a directory. */
export function directoryHandler(modelDir) {
  return {
    load: async () => {
      const modelJson = path.join(modelDir, 'model.json');
      const model = JSON.parse(fs.readFileSync(modelJson, 'utf8'));
      const weightSpecs = [];
      const shards = [];
      for (const group of model.weightsManifest) {
        weightSpecs.push(...group.weights);
        for (const shard of group.paths) {
          shards.push(fs.readFileSync(path.join(modelDir, shard)));
        }
      }
      const weightData = Buffer.concat(shards);
      return {
        modelTopology: model.modelTopology,
        format: model.format,
        generatedBy: model.generatedBy,
        convertedBy: model.convertedBy,
        signature: model.signature,
        userDefinedMetadata: model.userDefinedMetadata,
        weightSpecs,
        weightData: weightData.buffer.slice(
            weightData.byteOffset, weightData.byteOffset + weightData.byteLength),
      };
    },
  };
}
