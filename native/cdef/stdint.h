/* Empty stand-ins: cffi knows the standard integer types itself. */
