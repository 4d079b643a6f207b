/*
 * import.h - `xmppd import-prosody`: accounts, rosters, vCards, private
 * XML, offline messages and PEP nodes from Prosody's internal storage.
 */
#ifndef XMPPD_IMPORT_H
#define XMPPD_IMPORT_H

/*
 * argv[0..argc) are the words after "import-prosody":
 *   PROSODY_DATA_DIR [--host HOST] [--dry-run] [--force]
 * Returns the exit status: 0 when everything importable was imported,
 * 1 when something was skipped because of an error (or nothing could be
 * imported at all), 2 for a usage or configuration error.
 */
int	 cmd_import_prosody(const char *config_path, int argc, char **argv);

#endif
