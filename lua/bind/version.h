/* version.h - ember's version, in one place (ember.version, `ember --version`, meta.tsv) */
#ifndef EMBER_VERSION_H
#define EMBER_VERSION_H
#define EMBER_VERSION "0.2.0"
#endif
