/* Applying image layers to the in-memory tree with OCI semantics: whiteouts, opaque
 * directories, hardlinks, symlinks, device nodes, owners, modes and extended attributes. */
#ifndef EMBER_ROOTFS_LAYERS_H
#define EMBER_ROOTFS_LAYERS_H

#include <archive.h>

#include "image.h"
#include "tree.h"

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"

enum whiteout_kind {
	WHITEOUT_NONE,     /* an ordinary name */
	WHITEOUT_FILE,     /* ".wh.NAME": removes NAME */
	WHITEOUT_DIR_OPAQUE, /* ".wh..wh..opq": hides the directory's lower contents */
	WHITEOUT_META,     /* other ".wh..wh." names (aufs bookkeeping): dropped */
};

/* Classifies a name (one path component). */
enum whiteout_kind whiteout_classify(const char *name);

/* Applies every entry of an open tar reader as layer number tree->layer; source names the
 * layer in messages. With whiteouts non-zero, ".wh." names remove entries instead of being
 * added. Entries that cannot be placed (a path through a file of the same layer, a hardlink
 * to a missing target) are skipped with a warning. Logs what failed and returns -errno. */
int layer_apply(struct tree *tree, struct archive *archive, const char *source, int whiteouts);

/* Reads the directory of a rootfs: image into the tree, keeping hardlinks. */
int layer_apply_directory(struct tree *tree, const char *dir);

#endif
