# shell template placeholder
