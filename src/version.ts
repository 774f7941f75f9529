/** The package version (dist/ and package.json ship together in the image). */
export const VERSION: string = (require('../package.json') as { version: string }).version;
