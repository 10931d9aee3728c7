# service_protos.cmake: which generated proto headers a service may include, read from the
# checkout at configure time (CMakeLists.txt) and by tests/boundaries/check (as a script).
#
# A service svc/NAME may include mesh.pb-c.h (the runtime's envelope and Health), its own
# proto's header, the header of every service its manifest's calls: names, and the headers those
# protos import. Its own proto is the one whose `package` its manifest's `service:` names
# (proto/NAME.proto by convention, and when the manifest has no `service:`); a callee D's proto
# is found the same way from svc/D/manifest.yml, else proto/D.proto.
#
# calls: is read as one of these YAML forms; any other fails with file:line:
#   calls: [threads.Get, users.Get]    a flow list on one line ("..." or '...' items too)
#   calls: []                          none; a manifest without calls: also calls nothing
#   calls:                             a block list, one "- service.method" per line
#     - users.Get
#
# As a script: cmake -DROOT=DIR -DSERVICE=NAME -P cmake/service_protos.cmake prints the proto
# names (mesh;users;...) service NAME of the checkout at DIR may use, or fails with the reason.

if(CMAKE_SCRIPT_MODE_FILE STREQUAL CMAKE_CURRENT_LIST_FILE)
  cmake_minimum_required(VERSION 3.18) # the project's policies, when run as a script
endif()

# _cleave_lines(FILE OUT): FILE's lines as a list, empty ones kept (file(STRINGS) drops them),
# with \ ; [ and ] replaced so that no line splits or joins another in a list.
function(_cleave_lines file out)
  file(READ "${file}" text)
  string(REPLACE "\r" "" text "${text}")
  string(REPLACE "\\" "<backslash>" text "${text}")
  string(REPLACE ";" "<semicolon>" text "${text}")
  string(REPLACE "[" "<lbracket>" text "${text}")
  string(REPLACE "]" "<rbracket>" text "${text}")
  string(REPLACE "\n" ";" text "${text}")
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

# _cleave_relpath(ROOT PATH OUT): PATH relative to ROOT, for messages.
function(_cleave_relpath root path out)
  file(RELATIVE_PATH rel "${root}" "${path}")
  set(${out} "${rel}" PARENT_SCOPE)
endfunction()

# _cleave_strip_comment(TEXT OUT): TEXT without a YAML comment (# at its start or after a blank)
# and without blanks at either end.
function(_cleave_strip_comment text out)
  string(REGEX REPLACE "(^|[ \t])#.*$" "" text "${text}")
  string(STRIP "${text}" text)
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

# _cleave_call_service(WHERE ITEM OUT): the service part of one calls: entry, or a fatal error.
function(_cleave_call_service where item out)
  string(STRIP "${item}" item)
  if(item MATCHES "^\"(.*)\"$")
    set(item "${CMAKE_MATCH_1}")
  elseif(item MATCHES "^'(.*)'$")
    set(item "${CMAKE_MATCH_1}")
  endif()
  # as the edge reads it (manifest/manifest.c): a manifest name, one dot, a method name
  if(NOT item MATCHES "^([a-z0-9_-]+)\\.[A-Za-z_][A-Za-z0-9_]*$")
    string(REPLACE "<lbracket>" "[" item "${item}")
    string(REPLACE "<rbracket>" "]" item "${item}")
    string(REPLACE "<semicolon>" ";" item "${item}")
    string(REPLACE "<backslash>" "\\" item "${item}")
    message(FATAL_ERROR "${where}: calls: '${item}' is not service.method (a manifest name, "
                        "one dot, a method of its service), like users.Get")
  endif()
  set(${out} "${CMAKE_MATCH_1}" PARENT_SCOPE)
endfunction()

# cleave_manifest_calls(ROOT MANIFEST OUT OUT_LINES): the services (deduplicated, in order)
# that MANIFEST's calls: names, empty without calls: or without MANIFEST, and the line naming
# each.
function(cleave_manifest_calls root manifest out out_lines)
  if(NOT EXISTS "${manifest}")
    set(${out} "" PARENT_SCOPE)
    set(${out_lines} "" PARENT_SCOPE)
    return()
  endif()
  _cleave_relpath("${root}" "${manifest}" rel)
  _cleave_lines("${manifest}" lines)
  set(services)
  set(service_lines)
  set(seen 0)
  set(block 0) # inside a block list, started on line block_line, of block_items so far
  set(n 0)
  foreach(line IN LISTS lines)
    math(EXPR n "${n} + 1")
    if(block)
      _cleave_strip_comment("${line}" bare)
      if(bare STREQUAL "")
        continue()
      elseif(line MATCHES "^[ \t]*-([ \t].*)?$")
        _cleave_strip_comment("${CMAKE_MATCH_1}" item)
        _cleave_call_service("${rel}:${n}" "${item}" svc)
        if(NOT svc IN_LIST services)
          list(APPEND services ${svc})
          list(APPEND service_lines ${n})
        endif()
        math(EXPR block_items "${block_items} + 1")
        continue()
      elseif(line MATCHES "^[ \t]")
        message(FATAL_ERROR "${rel}:${n}: calls: expected '- service.method' in the list "
                            "started on line ${block_line}")
      endif()
      set(block 0) # the next top-level key ends the list
      if(block_items EQUAL 0)
        message(FATAL_ERROR "${rel}:${block_line}: calls: has no value: write calls: [] for "
                            "none, or a list of service.method")
      endif()
    endif()
    if(NOT line MATCHES "^calls[ \t]*:(.*)$")
      if(line MATCHES "^\"?calls\"?[ \t]*:" OR line MATCHES "^'calls'[ \t]*:")
        message(FATAL_ERROR "${rel}:${n}: calls: write the key unquoted, as calls: [...]")
      endif()
      continue()
    endif()
    if(seen)
      message(FATAL_ERROR "${rel}:${n}: 'calls' is given twice")
    endif()
    set(seen 1)
    _cleave_strip_comment("${CMAKE_MATCH_1}" value)
    if(value MATCHES "^<lbracket>(.*)<rbracket>$")
      set(inner "${CMAKE_MATCH_1}")
      if(inner MATCHES "<lbracket>|<rbracket>|<semicolon>|[{}]")
        message(FATAL_ERROR "${rel}:${n}: calls: a flow list of service.method is read here, "
                            "like [threads.Get, users.Get], not nested lists or maps")
      endif()
      string(STRIP "${inner}" inner)
      if(inner STREQUAL "")
        continue()
      endif()
      string(REPLACE "," ";" items "${inner}")
      list(LENGTH items count)
      set(i 0)
      foreach(item IN LISTS items)
        math(EXPR i "${i} + 1")
        string(STRIP "${item}" item)
        if(item STREQUAL "" AND i EQUAL count AND count GREATER 1)
          continue() # a trailing comma, as YAML allows
        endif()
        _cleave_call_service("${rel}:${n}" "${item}" svc)
        if(NOT svc IN_LIST services)
          list(APPEND services ${svc})
          list(APPEND service_lines ${n})
        endif()
      endforeach()
    elseif(value STREQUAL "")
      set(block 1)
      set(block_line ${n})
      set(block_items 0)
    else()
      string(REPLACE "<lbracket>" "[" value "${value}")
      string(REPLACE "<rbracket>" "]" value "${value}")
      string(REPLACE "<semicolon>" ";" value "${value}")
      string(REPLACE "<backslash>" "\\" value "${value}")
      message(FATAL_ERROR "${rel}:${n}: calls: cannot read '${value}' as a list: the build "
                          "reads calls: [users.Get, threads.Get] on one line (calls: [] for "
                          "none), or one '- service.method' per line below calls:")
    endif()
  endforeach()
  if(block AND block_items EQUAL 0)
    message(FATAL_ERROR "${rel}:${block_line}: calls: has no value: write calls: [] for none, "
                        "or a list of service.method")
  endif()
  set(${out} "${services}" PARENT_SCOPE)
  set(${out_lines} "${service_lines}" PARENT_SCOPE)
endfunction()

# _cleave_proto_lines(FILE REGEX GROUP OUT): group GROUP of each line of FILE that starts (after
# blanks) with a match of REGEX.
function(_cleave_proto_lines file regex group out)
  file(STRINGS "${file}" lines REGEX "^[ \t]*${regex}")
  set(values)
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "^[ \t]*${regex}.*$" "\\${group}" value "${line}")
    list(APPEND values "${value}")
  endforeach()
  set(${out} "${values}" PARENT_SCOPE)
endfunction()

# cleave_proto_of_package(ROOT PACKAGE OUT): the name of the proto/*.proto declaring PACKAGE,
# or empty.
function(cleave_proto_of_package root package out)
  file(GLOB protos "${root}/proto/*.proto")
  list(SORT protos)
  set(${out} "" PARENT_SCOPE)
  foreach(proto IN LISTS protos)
    _cleave_proto_lines("${proto}" "package[ \t]+([A-Za-z0-9_.]+)[ \t]*;" 1 packages)
    if(package IN_LIST packages)
      get_filename_component(name "${proto}" NAME_WE)
      set(${out} "${name}" PARENT_SCOPE)
      break()
    endif()
  endforeach()
endfunction()

# cleave_service_proto(ROOT SERVICE WHERE OUT): the proto (a name in proto/) that the service
# SERVICE serves; WHERE names what asked, for the error.
function(cleave_service_proto root service where out)
  set(manifest "${root}/svc/${service}/manifest.yml")
  if(EXISTS "${manifest}")
    _cleave_relpath("${root}" "${manifest}" rel)
    _cleave_lines("${manifest}" lines)
    set(n 0)
    foreach(line IN LISTS lines)
      math(EXPR n "${n} + 1")
      if(line MATCHES "^service[ \t]*:(.*)$")
        _cleave_strip_comment("${CMAKE_MATCH_1}" full)
        if(full MATCHES "^[\"']?([A-Za-z0-9_.]+)\\.[A-Za-z0-9_]+[\"']?$")
          cleave_proto_of_package("${root}" "${CMAKE_MATCH_1}" proto)
          if(proto STREQUAL "")
            message(FATAL_ERROR "${rel}:${n}: service: ${full}: no proto/*.proto declares "
                                "'package ${CMAKE_MATCH_1};'")
          endif()
          set(${out} "${proto}" PARENT_SCOPE)
          return()
        endif()
        message(FATAL_ERROR "${rel}:${n}: service: '${full}' is not package.Service")
      endif()
    endforeach()
  endif()
  if(EXISTS "${root}/proto/${service}.proto")
    set(${out} "${service}" PARENT_SCOPE)
    return()
  endif()
  message(FATAL_ERROR "${where}: no proto for service '${service}': neither a service: line in "
                      "svc/${service}/manifest.yml nor proto/${service}.proto")
endfunction()

# cleave_proto_imports(ROOT PROTO OUT): PROTO and the protos of proto/ it imports, transitively.
function(cleave_proto_imports root proto out)
  set(result ${proto})
  set(todo ${proto})
  while(todo)
    list(POP_FRONT todo p)
    _cleave_proto_lines("${root}/proto/${p}.proto"
                        "import[ \t]+((public|weak)[ \t]+)?\"([^\"]+)\\.proto\"" 3 imports)
    foreach(imp IN LISTS imports)
      # only a proto of proto/ itself is a header of the build (others are not generated)
      if(EXISTS "${root}/proto/${imp}.proto" AND NOT imp IN_LIST result)
        list(APPEND result ${imp})
        list(APPEND todo ${imp})
      endif()
    endforeach()
  endwhile()
  set(${out} "${result}" PARENT_SCOPE)
endfunction()

# cleave_service_protos(ROOT SERVICE OUT OUT_DIRECT): the protos service SERVICE may include:
# OUT_DIRECT is mesh, its own and its callees'; OUT adds what those import.
function(cleave_service_protos root service out out_direct)
  set(direct)
  if(EXISTS "${root}/proto/mesh.proto")
    list(APPEND direct mesh)
  endif()
  cleave_service_proto("${root}" "${service}" "svc/${service}" own)
  list(APPEND direct ${own})
  cleave_manifest_calls("${root}" "${root}/svc/${service}/manifest.yml" callees lines)
  foreach(callee line IN ZIP_LISTS callees lines)
    cleave_service_proto("${root}" "${callee}" "svc/${service}/manifest.yml:${line}: calls"
                         proto)
    list(APPEND direct ${proto})
  endforeach()
  list(REMOVE_DUPLICATES direct)
  set(all)
  foreach(p IN LISTS direct)
    cleave_proto_imports("${root}" "${p}" closure)
    list(APPEND all ${closure})
  endforeach()
  list(REMOVE_DUPLICATES all)
  set(${out} "${all}" PARENT_SCOPE)
  set(${out_direct} "${direct}" PARENT_SCOPE)
endfunction()

if(CMAKE_SCRIPT_MODE_FILE STREQUAL CMAKE_CURRENT_LIST_FILE)
  if(NOT DEFINED ROOT OR NOT DEFINED SERVICE)
    message(FATAL_ERROR "usage: cmake -DROOT=DIR -DSERVICE=NAME -P ${CMAKE_CURRENT_LIST_FILE}")
  endif()
  get_filename_component(ROOT "${ROOT}" ABSOLUTE)
  cleave_service_protos("${ROOT}" "${SERVICE}" protos direct)
  execute_process(COMMAND ${CMAKE_COMMAND} -E echo "${protos}")
endif()
