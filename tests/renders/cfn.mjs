// cfn.mjs: checks a CloudFormation template against the CloudFormation resource specification
// (as @aws-cdk/cfnspec ships it): the template's sections, its parameters and conditions, every
// resource's type, every property known for its type and of its type (strings, numbers,
// booleans, lists, maps, the spec's property types, recursively), every required property
// present, and every reference (Ref, Fn::GetAtt, Fn::Sub, Fn::If, DependsOn, Condition) naming
// something the template or CloudFormation has, a list where a list belongs.

const SECTIONS = ["AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Rules",
  "Mappings", "Conditions", "Transform", "Resources", "Outputs"];
const RESOURCE_KEYS = ["Type", "Properties", "DependsOn", "Condition", "Metadata",
  "DeletionPolicy", "UpdateReplacePolicy", "CreationPolicy", "UpdatePolicy"];
const PARAMETER_KEYS = ["Type", "Default", "Description", "AllowedValues", "AllowedPattern",
  "ConstraintDescription", "MaxLength", "MinLength", "MaxValue", "MinValue", "NoEcho"];
const OUTPUT_KEYS = ["Value", "Description", "Export", "Condition"];
const PSEUDO = ["AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition",
  "AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix"];
// Parameter types: the plain ones and the AWS-specific ones CloudFormation checks on deploy.
const PLAIN_PARAMETERS = ["String", "Number", "List<Number>", "CommaDelimitedList"];
const AWS_PARAMETER = /^(List<)?AWS::(EC2::(AvailabilityZone::Name|Image::Id|Instance::Id|KeyPair::KeyName|SecurityGroup::GroupName|SecurityGroup::Id|Subnet::Id|Volume::Id|VPC::Id)|Route53::HostedZone::Id)>?$/;
const CONDITION_FUNCTIONS = ["Fn::And", "Fn::Equals", "Fn::If", "Fn::Not", "Fn::Or", "Condition"];
// What each intrinsic function gives: a list, or a single value.
const LIST_FUNCTIONS = ["Fn::GetAZs", "Fn::Split", "Fn::Cidr"];
const FUNCTIONS = ["Ref", "Fn::Base64", "Fn::Cidr", "Fn::FindInMap", "Fn::GetAtt", "Fn::GetAZs",
  "Fn::If", "Fn::ImportValue", "Fn::Join", "Fn::Length", "Fn::Select", "Fn::Split", "Fn::Sub",
  "Fn::ToJsonString"];

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

// intrinsic is the function name of v when v is an intrinsic function call ({Ref: X},
// {"Fn::Sub": ...}), else undefined.
function intrinsic(v) {
  if (!isObject(v))
    return undefined;
  const keys = Object.keys(v);
  return keys.length === 1 && FUNCTIONS.includes(keys[0]) ? keys[0] : undefined;
}

// cloudformation checks template (parsed from file) against spec (cfnspec's specification()),
// reporting each problem with problem(where, what). Returns how many resources it checked.
export function cloudformation(file, template, spec, problem) {
  const where = (...parts) => `${file}: ${parts.join(": ")}`;
  if (!isObject(template))
    return problem(file, "not a mapping"), 0;
  for (const k of Object.keys(template))
    if (!SECTIONS.includes(k))
      problem(where(k), "not a section of a template");
  if (template.AWSTemplateFormatVersion !== undefined &&
    template.AWSTemplateFormatVersion !== "2010-09-09")
    problem(where("AWSTemplateFormatVersion"),
      `'${template.AWSTemplateFormatVersion}' (want the string '2010-09-09')`);
  if (template.Description !== undefined &&
    (typeof template.Description !== "string" || Buffer.byteLength(template.Description) > 1024))
    problem(where("Description"), "wants a string of at most 1024 bytes");
  const parameters = template.Parameters || {};
  const conditions = template.Conditions || {};
  const resources = template.Resources || {};
  if (Object.keys(resources).length === 0)
    problem(file, "no Resources");
  if (Object.keys(parameters).length > 200 || Object.keys(resources).length > 500)
    problem(file, "over CloudFormation's 200 parameters or 500 resources");
  for (const id of [...Object.keys(parameters), ...Object.keys(resources),
    ...Object.keys(conditions), ...Object.keys(template.Outputs || {})])
    if (!/^[A-Za-z0-9]{1,255}$/.test(id))
      problem(where(id), "a logical id is alphanumeric, 1 to 255 characters");
  for (const id of Object.keys(parameters))
    if (id in resources)
      problem(where(id), "both a parameter and a resource");

  // kind_of says what a reference gives: "list", "scalar" or undefined when it names nothing
  const kind_of = (name) => {
    if (PSEUDO.includes(name))
      return name === "AWS::NotificationARNs" ? "list" : "scalar";
    if (name in parameters) {
      const t = String(parameters[name].Type);
      return t.startsWith("List<") || t === "CommaDelimitedList" ? "list" : "scalar";
    }
    return name in resources ? "scalar" : undefined;
  };
  // attribute is the spec's attribute attr of resource id, or undefined
  const attribute = (id, attr) => {
    const type = spec.ResourceTypes[resources[id]?.Type];
    return type?.Attributes?.[attr];
  };

  // refs checks the references inside any value (as in Json properties and Outputs); at says
  // where. Returns what v gives: "list", "scalar", or "any" when it cannot tell.
  const refs = (v, at) => {
    const fn = intrinsic(v);
    if (fn === undefined) {
      if (Array.isArray(v))
        v.forEach((x, i) => refs(x, `${at}/${i}`));
      else if (isObject(v))
        for (const [k, x] of Object.entries(v))
          refs(x, `${at}/${k}`);
      return Array.isArray(v) ? "list" : "scalar";
    }
    const arg = v[fn];
    if (fn === "Ref") {
      const kind = typeof arg === "string" ? kind_of(arg) : undefined;
      if (kind === undefined)
        problem(at, `Ref ${JSON.stringify(arg)} names no parameter, resource or pseudo parameter`);
      return kind ?? "any";
    }
    if (fn === "Fn::GetAtt") {
      const [id, ...rest] = Array.isArray(arg) ? arg : String(arg).split(".");
      const attr = rest.join(".");
      if (Array.isArray(arg) && arg.length !== 2)
        problem(at, "Fn::GetAtt wants [resource, attribute]");
      if (!(id in resources))
        return problem(at, `Fn::GetAtt: no resource ${id}`), "any";
      const a = attribute(id, attr);
      if (a === undefined)
        return problem(at, `Fn::GetAtt: ${resources[id].Type} has no attribute ${attr}`), "any";
      return a.Type === "List" ? "list" : "scalar";
    }
    if (fn === "Fn::Sub") {
      const [text, vars] = Array.isArray(arg) ? arg : [arg, {}];
      if (typeof text !== "string")
        return problem(at, "Fn::Sub wants a string"), "scalar";
      for (const m of text.matchAll(/\$\{([^}]*)\}/g)) {
        const name = m[1];
        if (name.startsWith("!") || (isObject(vars) && name in vars))
          continue;
        const dot = name.indexOf(".");
        if (dot > 0 && !PSEUDO.includes(name)) {
          const id = name.slice(0, dot), attr = name.slice(dot + 1);
          if (!(id in resources) || attribute(id, attr) === undefined)
            problem(at, `Fn::Sub: \${${name}} is no attribute of a resource`);
        } else if (kind_of(name) !== "scalar") {
          problem(at, `Fn::Sub: \${${name}} names no parameter, resource or pseudo parameter (or a list)`);
        }
      }
      if (isObject(vars))
        refs(vars, `${at}/Fn::Sub`);
      return "scalar";
    }
    if (fn === "Fn::If") {
      if (!Array.isArray(arg) || arg.length !== 3)
        return problem(at, "Fn::If wants [condition, value if true, value if false]"), "any";
      if (!(arg[0] in conditions))
        problem(at, `Fn::If: no condition ${arg[0]}`);
      const a = refs(arg[1], `${at}/Fn::If/1`), b = refs(arg[2], `${at}/Fn::If/2`);
      return a === b ? a : "any";
    }
    refs(arg, `${at}/${fn}`);
    return LIST_FUNCTIONS.includes(fn) ? "list" : "scalar";
  };

  // value checks v against a property's spec p (of resource type rtype): a primitive type, a
  // list or map of them, or a property type of the spec. at says where.
  const value = (v, p, rtype, at) => {
    const fn = intrinsic(v);
    const list = p.Type === "List";
    if (fn === "Fn::If" && Array.isArray(v[fn]) && v[fn].length === 3) {
      if (!(v[fn][0] in conditions))
        problem(at, `Fn::If: no condition ${v[fn][0]}`);
      for (const i of [1, 2])
        if (!(intrinsic(v[fn][i]) === "Ref" && v[fn][i].Ref === "AWS::NoValue"))
          value(v[fn][i], p, rtype, `${at}/Fn::If/${i}`);
      return;
    }
    if (fn !== undefined) {
      const kind = refs(v, at);
      if (kind === "list" && !list && p.Type !== "Map" && p.PrimitiveType !== "Json")
        problem(at, `${fn} gives a list where one value belongs`);
      if (kind === "scalar" && list)
        problem(at, `${fn} gives one value where a list belongs`);
      return;
    }
    if (p.PrimitiveTypes || p.Types) /* a union (only SAM's): any of them */
      return;
    if (list || p.Type === "Map") {
      if (list ? !Array.isArray(v) : !isObject(v))
        return problem(at, `wants a ${list ? "list" : "map"}, not ${JSON.stringify(v)}`);
      if (list && p.DuplicatesAllowed === false) {
        const seen = new Set(v.map((x) => JSON.stringify(x)));
        if (seen.size !== v.length)
          problem(at, "has duplicates, which this list does not allow");
      }
      const item = p.PrimitiveItemType ? { PrimitiveType: p.PrimitiveItemType }
        : { Type: p.ItemType };
      const entries = list ? v.map((x, i) => [i, x]) : Object.entries(v);
      /* an item may be an Fn::If with AWS::NoValue on one side: left out then */
      for (const [k, x] of entries)
        value(x, item, rtype, `${at}/${k}`);
      return;
    }
    if (p.PrimitiveType !== undefined)
      return primitive(v, p.PrimitiveType, at);
    const name = p.Type === "Tag" ? "Tag" : `${rtype}.${p.Type}`;
    const type = spec.PropertyTypes[name] ?? spec.PropertyTypes[p.Type];
    if (type === undefined)
      return problem(at, `the spec has no property type ${name}`);
    properties(v, type, rtype, name, at);
  };

  // primitive checks a primitive value as CloudFormation's YAML gives it.
  const primitive = (v, t, at) => {
    const ok = {
      String: typeof v === "string",
      Long: Number.isInteger(v),
      Integer: Number.isInteger(v),
      Double: typeof v === "number",
      Boolean: typeof v === "boolean",
      Timestamp: typeof v === "string",
      Json: isObject(v) || typeof v === "string",
    }[t];
    if (ok === undefined)
      return problem(at, `the spec's primitive type ${t} is not known here`);
    if (!ok)
      problem(at, `wants a ${t}, not ${JSON.stringify(v)}${typeof v === "string" ? " (a string)" : ""}`);
    if (t === "Json" && isObject(v))
      refs(v, at);
  };

  // properties checks the mapping v against a resource or property type of the spec: every key
  // known, every required one present, each value of its type.
  const properties = (v, type, rtype, name, at) => {
    if (!isObject(v))
      return problem(at, `wants a ${name} mapping, not ${JSON.stringify(v)}`);
    const known = type.Properties || {};
    for (const [k, x] of Object.entries(v)) {
      if (!(k in known)) {
        problem(`${at}/${k}`, `${name} has no property ${k}`);
        continue;
      }
      value(x, known[k], rtype, `${at}/${k}`);
    }
    for (const [k, p] of Object.entries(known))
      if (p.Required && !(k in v))
        problem(at, `${name} wants its property ${k}`);
  };

  for (const [id, p] of Object.entries(parameters)) {
    const at = where("Parameters", id);
    if (!isObject(p))
      continue;
    for (const k of Object.keys(p))
      if (!PARAMETER_KEYS.includes(k))
        problem(at, `a parameter has no key ${k}`);
    const t = String(p.Type);
    if (!PLAIN_PARAMETERS.includes(t) && !AWS_PARAMETER.test(t) &&
      !/^AWS::SSM::Parameter::Value<.+>$/.test(t))
      problem(at, `no parameter type ${t}`);
    if (p.Default !== undefined) {
      if (t === "Number" && !Number.isFinite(Number(p.Default)))
        problem(at, `Default ${p.Default} is not a number`);
      if (p.AllowedPattern !== undefined && t === "String" &&
        !new RegExp(p.AllowedPattern).test(String(p.Default)))
        problem(at, `Default '${p.Default}' does not match AllowedPattern ${p.AllowedPattern}`);
      if (p.AllowedValues !== undefined && !p.AllowedValues.map(String).includes(String(p.Default)))
        problem(at, `Default ${p.Default} is not among AllowedValues`);
    }
    if (p.Description !== undefined && String(p.Description).length > 4000)
      problem(at, "Description over 4000 characters");
  }
  for (const [id, c] of Object.entries(conditions)) {
    const at = where("Conditions", id);
    const fn = isObject(c) ? Object.keys(c)[0] : undefined;
    if (!isObject(c) || Object.keys(c).length !== 1 || !CONDITION_FUNCTIONS.includes(fn))
      problem(at, "wants one condition function (Fn::Equals, Fn::Not, ...)");
    const walk = (v) => {
      if (Array.isArray(v))
        return v.forEach(walk);
      if (!isObject(v))
        return;
      if ("Condition" in v && !(v.Condition in conditions))
        problem(at, `names no condition ${v.Condition}`);
      if ("Ref" in v && kind_of(v.Ref) === undefined)
        problem(at, `Ref ${v.Ref} names nothing`);
      Object.values(v).forEach(walk);
    };
    walk(c);
  }
  let n = 0;
  for (const [id, r] of Object.entries(resources)) {
    const at = where("Resources", id);
    n++;
    if (!isObject(r)) {
      problem(at, "not a mapping");
      continue;
    }
    for (const k of Object.keys(r))
      if (!RESOURCE_KEYS.includes(k))
        problem(at, `a resource has no key ${k}`);
    const type = spec.ResourceTypes[r.Type];
    if (type === undefined) {
      problem(at, `no resource type ${r.Type} in the CloudFormation specification`);
      continue;
    }
    if (r.Condition !== undefined && !(r.Condition in conditions))
      problem(at, `no condition ${r.Condition}`);
    for (const d of [].concat(r.DependsOn ?? []))
      if (!(d in resources))
        problem(at, `DependsOn ${d}: no such resource`);
      else if (resources[d].Condition !== undefined && resources[d].Condition !== r.Condition)
        problem(at, `DependsOn ${d}, which exists only under condition ${resources[d].Condition}`);
    properties(r.Properties ?? {}, type, r.Type, r.Type, `${at}/Properties`);
  }
  for (const [id, o] of Object.entries(template.Outputs || {})) {
    const at = where("Outputs", id);
    for (const k of Object.keys(o || {}))
      if (!OUTPUT_KEYS.includes(k))
        problem(at, `an output has no key ${k}`);
    if (o?.Value === undefined)
      problem(at, "no Value");
    else
      refs(o.Value, `${at}/Value`);
    if (o?.Condition !== undefined && !(o.Condition in conditions))
      problem(at, `no condition ${o.Condition}`);
  }
  return n;
}
