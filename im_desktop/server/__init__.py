"""The built-in IM server: Satori v1 plus a login extension, with Tencent's login rules."""
