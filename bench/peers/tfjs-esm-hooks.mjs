// tfjs-esm-hooks.mjs - module hooks (registered by tfjs.mjs through node:module register()) that let Node load
// @tensorflow/tfjs-core's unbundled ES modules (dist/**/*.js: extensionless imports in a package without
// "type": "module"). Needed for dist/register_all_gradients.js: the CommonJS bundle that Node resolves for
// '@tensorflow/tfjs-core' has no gradients (the @tensorflow/tfjs union package normally supplies them). The
// gradients register into tfjs's global registry and run on the one global engine, so both copies cooperate.
const DIST = '/@tensorflow/tfjs-core/dist/';
const inDist = (url) => url && url.startsWith('file:') && url.includes(DIST) && !url.endsWith('/tf-core.node.js');

export async function resolve(specifier, context, next) {
  if (inDist(context.parentURL) && specifier.startsWith('.') && !/\.[cm]?js$/.test(specifier)) {
    try {
      return await next(`${specifier}.js`, context);
    } catch {
      return next(`${specifier}/index.js`, context);
    }
  }
  return next(specifier, context);
}

export async function load(url, context, next) {
  if (inDist(url)) return next(url, { ...context, format: 'module' });
  return next(url, context);
}
