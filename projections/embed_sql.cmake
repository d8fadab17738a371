# Turns schemas/sql/*.sql into a C++ source with the migrations as string literals, so the
# binary carries its schema and applies it on start (sorted by file name = version order).
file(GLOB SQL_FILES "${SQL_DIR}/*.sql")
list(SORT SQL_FILES)
set(BODY "// Generated from schemas/sql by projections/embed_sql.cmake. Do not edit.\n#include \"projections/migrations.hpp\"\nnamespace ordo::projections {\nconst std::vector<Migration>& migrations() {\n  static const std::vector<Migration> all = {\n")
foreach(F ${SQL_FILES})
  get_filename_component(NAME ${F} NAME)
  string(REGEX MATCH "^[0-9]+" VERSION ${NAME})
  file(READ ${F} CONTENT)
  set(BODY "${BODY}    {${VERSION}, \"${NAME}\", R\"ordosql(${CONTENT})ordosql\"},\n")
endforeach()
set(BODY "${BODY}  };\n  return all;\n}\n}  // namespace ordo::projections\n")
file(WRITE ${OUT}.tmp "${BODY}")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different ${OUT}.tmp ${OUT})
