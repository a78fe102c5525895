"""Small, safe file-writing primitives shared by every stage."""
