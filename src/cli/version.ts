declare const __OCIKIT_VERSION__: string | undefined;

/** The version baked in by the bundler (`dev` when run from sources). */
export const VERSION = typeof __OCIKIT_VERSION__ === 'string' ? __OCIKIT_VERSION__ : 'dev';
