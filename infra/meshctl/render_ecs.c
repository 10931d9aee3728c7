/* render_ecs.c: meshctl render ecs: template.yml, a CloudFormation template running the mesh on
 * Amazon ECS with Fargate: per manifest a task definition, a service, a Cloud Map name and a
 * security group open only to its callers; the edge behind an Application Load Balancer. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"

/* ARN of a TLS parameter, under the path the TlsParameterPath parameter names (an Fn::Sub text) */
#define SSM_ARN                                                                                    \
	"arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${TlsParameterPath}/"
#define STOP_TIMEOUT_MAX 120 /* Fargate's longest stopTimeout, in seconds */
#define EDGE_DEREG_MIN_S 5   /* the edge's request deadline (--timeout-ms 5000): none outlives it */
#define TLS_PARAMS	 3   /* a task's TLS parameters: its certificate and key, the CA's */
#define DNS_TTL_S	 5   /* the callers re-resolve every 5 s (CLEAVE_RESOLVE_INTERVAL_MS) */

/* workload: the edge or one manifest's service, with what the template names it. */
typedef struct workload {
	const manifest *m; /* NULL: the edge */
	size_t k;	   /* its index in the render's manifests (services) */
	char name[64];	   /* its identity: "edge" or the manifest's name */
	char id[64];	   /* the prefix of its logical ids: "Edge", "Users" */
	char dns[64];	   /* its DNS label: "users" */
	char bin[96];	   /* its binary: "edge", "svc-users" */
} workload;

/* logical_id writes the CloudFormation logical id prefix of name: "users_v2" -> "UsersV2". */
static void logical_id(char *out, size_t outlen, const char *name)
{
	size_t i = 0;
	bool up = true;
	for (; *name != '\0' && i + 1 < outlen; name++) {
		if (!isalnum((unsigned char)*name)) {
			up = true;
			continue;
		}
		out[i++] = up ? (char)toupper((unsigned char)*name) : *name;
		up = false;
	}
	out[i] = '\0';
}

static void workload_init(workload *w, const render_ctx *c, size_t k, bool edge)
{
	w->m = edge ? NULL : c->ms[k];
	w->k = k;
	snprintf(w->name, sizeof(w->name), "%s", edge ? "edge" : c->ms[k]->name);
	logical_id(w->id, sizeof(w->id), w->name);
	render_dns(w->dns, sizeof(w->dns), w->name);
	snprintf(w->bin, sizeof(w->bin), edge ? "edge" : "svc-%s", w->name);
}

/* seconds is ms in whole seconds, rounded up and held within lo and hi. */
static int64_t seconds(int64_t ms, int64_t lo, int64_t hi)
{
	int64_t s = render_ceil_s(ms);
	return s < lo ? lo : s > hi ? hi : s;
}

/* sub writes "key:" and an Fn::Sub of text at indent (spaces). */
static void sub(FILE *f, int indent, const char *key, const char *text)
{
	fprintf(f, "%*s%s:\n%*sFn::Sub: ", indent, "", key, indent + 2, "");
	render_quote(f, text);
	fputc('\n', f);
}

/* ref writes "key:" and a Ref to target at indent. */
static void ref(FILE *f, int indent, const char *key, const char *target)
{
	fprintf(f, "%*s%s:\n%*sRef: %s\n", indent, "", key, indent + 2, "", target);
}

/* resource writes the head of the resource <id><kind> of the CloudFormation type: its name, its
 * Type, then attrs when not NULL (whole lines: Condition, DependsOn), then "Properties:". */
static void resource(FILE *f, const char *id, const char *kind, const char *type, const char *attrs)
{
	fprintf(f, "  %s%s:\n    Type: %s\n%s    Properties:\n", id, kind, type,
		attrs != NULL ? attrs : "");
}

/* tls_arn writes into out the ARN of TLS parameter i (0 to TLS_PARAMS - 1) of identity name: 0
 * its certificate, 1 its key, 2 the CA's certificate. */
static void tls_arn(char *out, size_t outlen, const char *name, int i)
{
	if (i < 2)
		snprintf(out, outlen, SSM_ARN "%s.%s", name, i == 0 ? "crt" : "key");
	else
		snprintf(out, outlen, SSM_ARN "ca.crt");
}

/* the edge's load balancer: its target group's deregistration delay, in seconds */
static int64_t edge_dereg_s(const render_ctx *c)
{
	int64_t s = EDGE_DEREG_MIN_S;
	for (size_t j = 0; j < c->n; j++)
		if (render_upstream(c, j) && render_ceil_s(c->ms[j]->deregistration_delay_ms) > s)
			s = render_ceil_s(c->ms[j]->deregistration_delay_ms);
	return s;
}

static void header(FILE *f, const render_ctx *c)
{
	fprintf(
	    f,
	    "# The mesh on Amazon ECS with Fargate, as one CloudFormation stack: the edge behind\n"
	    "# an Application Load Balancer; per service a task definition, an ECS service, a\n"
	    "# Cloud Map name (<name>.ServiceDomain, an A record per task: the callers dial every\n"
	    "# task and balance calls themselves), a security group that lets in only what may\n"
	    "# call it, a log group and an execution role. No task has a public IP: the private\n"
	    "# subnets reach ECR, SSM, Secrets Manager and CloudWatch Logs through a NAT gateway\n"
	    "# or VPC endpoints.\n"
	    "#\n"
	    "# Every call is mutual TLS (tls+tcp://, port %d): each task presents its own\n"
	    "# identity's certificate (edge, or its service's name), and each service allows only\n"
	    "# what the manifests its image carries say. The certificates come from SSM Parameter\n"
	    "# Store, as PEM text in CLEAVE_TLS_*_PEM; store them first (ca.key stays out):\n"
	    "#   meshctl certs --dir tls\n"
	    "#   for f in ca.crt",
	    RENDER_SVC_PORT);
	for (size_t k = 0; k <= c->n; k++) {
		const char *id = k == 0 ? "edge" : c->ms[k - 1]->name;
		if (k > 0 && k % 3 == 0) /* a new line after three identities */
			fprintf(f, " \\\n#          ");
		fprintf(f, " %s.crt %s.key", id, id);
	}
	fprintf(
	    f,
	    "; do\n"
	    "#     aws ssm put-parameter --type SecureString --name \"/cleave/tls/$f\" \\\n"
	    "#       --value \"file://tls/$f\"\n"
	    "#   done\n"
	    "# Push the images (ImagePrefix<name>:ImageTag), then\n"
	    "#   aws cloudformation deploy --template-file template.yml --stack-name cleave \\\n"
	    "#     --capabilities CAPABILITY_IAM --parameter-overrides VpcId=vpc-... \\\n"
	    "#     PublicSubnets=subnet-...,subnet-... PrivateSubnets=subnet-...,subnet-... \\\n"
	    "#     ImagePrefix=ACCOUNT.dkr.ecr.REGION.amazonaws.com/cleave-\n"
	    "# The API is then at the ApiUrl output.\n"
	    "#\n"
	    "# Each service's store: with its <Name>StoreSecretArn (a Secrets Manager secret "
	    "whose\n"
	    "# value is a PostgreSQL URL, given as CLEAVE_STORE_URL) it runs its manifest's "
	    "count;\n"
	    "# without, SQLite on its task's ephemeral storage, seeded at start and lost with the\n"
	    "# task, in one task (each task is its own host, and SQLite's WAL is not safe on "
	    "EFS):\n"
	    "# for trying the stack, not for production.\n");
	fprintf(f, "AWSTemplateFormatVersion: '2010-09-09'\n");
	fprintf(f,
		"Description: 'cleave on Amazon ECS (Fargate): the edge behind a load balancer and "
		"the services");
	for (size_t k = 0; k < c->n; k++)
		fprintf(f, "%s%s", k == 0 ? " " : k + 1 == c->n ? " and " : ", ", c->ms[k]->name);
	fprintf(f, ", over mutual TLS'\n\n");
}

/* param_given writes the condition <id><kind>: true when the parameter param is not empty. */
static void param_given(FILE *f, const char *id, const char *kind, const char *param)
{
	fprintf(f,
		"  %s%s:\n"
		"    Fn::Not:\n"
		"      - Fn::Equals:\n"
		"          - Ref: %s\n"
		"          - ''\n",
		id, kind, param);
}

static void parameters(FILE *f, const render_ctx *c)
{
	fprintf(f,
		"Parameters:\n"
		"  VpcId:\n"
		"    Type: AWS::EC2::VPC::Id\n"
		"    Description: 'The VPC (with DNS support and DNS hostnames: Cloud Map names "
		"are a private hosted zone)'\n"
		"  PublicSubnets:\n"
		"    Type: List<AWS::EC2::Subnet::Id>\n"
		"    Description: 'The load balancer subnets: two or more, in different "
		"Availability Zones'\n"
		"  PrivateSubnets:\n"
		"    Type: List<AWS::EC2::Subnet::Id>\n"
		"    Description: 'The tasks subnets (no public IP): with a NAT gateway or VPC "
		"endpoints for ECR, S3, SSM, Secrets Manager and CloudWatch Logs'\n"
		"  LoadBalancerScheme:\n"
		"    Type: String\n"
		"    Default: internet-facing\n"
		"    AllowedValues: [internet-facing, internal]\n"
		"  ClientCidr:\n"
		"    Type: String\n"
		"    Default: 0.0.0.0/0\n"
		"    Description: 'Who may reach the load balancer (IPv4 CIDR)'\n"
		"  CertificateArn:\n"
		"    Type: String\n"
		"    Default: ''\n"
		"    Description: 'An ACM certificate for HTTPS on 443 (HTTP on 80 then redirects "
		"to it); empty: HTTP on 80 only'\n"
		"  ImagePrefix:\n"
		"    Type: String\n");
	if (strncmp(c->o->image_prefix, "localhost/", 10) != 0) {
		fprintf(f, "    Default: ");
		render_quote(f, c->o->image_prefix);
		fputc('\n', f);
	}
	fprintf(f, "    Description: 'The images are ImagePrefix<name>:ImageTag, e.g. "
		   "ACCOUNT.dkr.ecr.REGION.amazonaws.com/cleave-'\n"
		   "  ImageTag:\n"
		   "    Type: String\n"
		   "    Default: ");
	render_quote(f, c->o->tag);
	fprintf(
	    f,
	    "\n"
	    "  CpuArchitecture:\n"
	    "    Type: String\n"
	    "    Default: X86_64\n"
	    "    AllowedValues: [X86_64, ARM64]\n"
	    "    Description: 'What the images were built for'\n"
	    "  TlsParameterPath:\n"
	    "    Type: String\n"
	    "    Default: /cleave/tls\n"
	    "    AllowedPattern: '^(/[A-Za-z0-9_.-]+)+$'\n"
	    "    Description: 'Where the SSM parameters ca.crt, <identity>.crt and "
	    "<identity>.key are (the files of meshctl certs)'\n"
	    "  ServiceDomain:\n"
	    "    Type: String\n"
	    "    Default: cleave.internal\n"
	    "    Description: 'The private DNS namespace: each service is <name>.ServiceDomain'\n"
	    "  StorePort:\n"
	    "    Type: Number\n"
	    "    Default: 5432\n"
	    "    Description: 'The port of the PostgreSQL stores, which services with a store "
	    "URL may reach'\n"
	    "  LogRetentionDays:\n"
	    "    Type: Number\n"
	    "    Default: 30\n"
	    "    AllowedValues: [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, "
	    "731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]\n");
	for (size_t k = 0; k < c->n; k++) {
		workload w;
		workload_init(&w, c, k, false);
		fprintf(
		    f,
		    "  %sStoreSecretArn:\n"
		    "    Type: String\n"
		    "    Default: ''\n"
		    "    AllowedPattern: "
		    "'^(arn:[a-z-]+:secretsmanager:[a-z0-9-]+:[0-9]+:secret:.+)?$'\n"
		    "    Description: '%s: a Secrets Manager secret whose value is its PostgreSQL "
		    "store URL (CLEAVE_STORE_URL); empty: SQLite on the task storage, one task, "
		    "lost with it'\n",
		    w.id, w.name);
	}
	fprintf(f, "\nConditions:\n");
	param_given(f, "Https", "", "CertificateArn");
	for (size_t k = 0; k < c->n; k++) {
		workload w;
		char param[96];
		workload_init(&w, c, k, false);
		snprintf(param, sizeof(param), "%sStoreSecretArn", w.id);
		param_given(f, w.id, "Store", param);
	}
	fputc('\n', f);
}

/* listener writes a listener of the load balancer, forwarding to the edge's target group: on 80
 * (HTTP), or with https on 443 (HTTPS, with the CertificateArn parameter: only when given). */
static void listener(FILE *f, bool https)
{
	resource(f, https ? "Https" : "Http", "Listener", "AWS::ElasticLoadBalancingV2::Listener",
		 https ? "    Condition: Https\n" : NULL);
	ref(f, 6, "LoadBalancerArn", "LoadBalancer");
	if (https)
		fprintf(f, "      Port: 443\n"
			   "      Protocol: HTTPS\n"
			   "      SslPolicy: ELBSecurityPolicy-TLS13-1-2-2021-06\n"
			   "      Certificates:\n"
			   "        - CertificateArn:\n"
			   "            Ref: CertificateArn\n");
	else
		fprintf(f, "      Port: 80\n"
			   "      Protocol: HTTP\n");
	fprintf(f, "      DefaultActions:\n"
		   "        - Type: forward\n");
	ref(f, 10, "TargetGroupArn", "EdgeTargetGroup");
}

/* load_balancer writes the cluster, the namespace and the edge's load balancer: its security
 * group, the balancer, the edge's target group and the listeners. */
static void load_balancer(FILE *f, const render_ctx *c)
{
	fprintf(f, "Resources:\n"
		   "  Cluster:\n"
		   "    Type: AWS::ECS::Cluster\n\n");
	fprintf(f,
		"  # <name>.ServiceDomain answers an A record per healthy task of the service\n");
	resource(f, "Namespace", "", "AWS::ServiceDiscovery::PrivateDnsNamespace", NULL);
	ref(f, 6, "Name", "ServiceDomain");
	ref(f, 6, "Vpc", "VpcId");
	fprintf(f, "      Description: 'cleave: the names the mesh calls'\n\n");
	resource(f, "LoadBalancer", "SecurityGroup", "AWS::EC2::SecurityGroup", NULL);
	fprintf(f, "      GroupDescription: 'cleave load balancer: HTTP and HTTPS from ClientCidr, "
		   "to the edge'\n");
	ref(f, 6, "VpcId", "VpcId");
	fprintf(f, "      SecurityGroupIngress:\n"
		   "        - IpProtocol: tcp\n"
		   "          FromPort: 80\n"
		   "          ToPort: 80\n");
	ref(f, 10, "CidrIp", "ClientCidr");
	fprintf(f, "        - Fn::If:\n"
		   "            - Https\n"
		   "            - IpProtocol: tcp\n"
		   "              FromPort: 443\n"
		   "              ToPort: 443\n");
	ref(f, 14, "CidrIp", "ClientCidr");
	fprintf(f,
		"            - Ref: AWS::NoValue\n"
		"      SecurityGroupEgress:\n"
		"        - IpProtocol: tcp\n"
		"          FromPort: %d\n"
		"          ToPort: %d\n",
		RENDER_EDGE_PORT, RENDER_EDGE_PORT);
	ref(f, 10, "DestinationSecurityGroupId", "EdgeSecurityGroup");
	fprintf(f, "          Description: 'to the edge'\n\n");
	resource(f, "LoadBalancer", "", "AWS::ElasticLoadBalancingV2::LoadBalancer", NULL);
	fprintf(f, "      Type: application\n");
	ref(f, 6, "Scheme", "LoadBalancerScheme");
	ref(f, 6, "Subnets", "PublicSubnets");
	fprintf(f, "      SecurityGroups:\n"
		   "        - Ref: LoadBalancerSecurityGroup\n"
		   "      LoadBalancerAttributes:\n"
		   "        - Key: routing.http.drop_invalid_header_fields.enabled\n"
		   "          Value: 'true'\n\n");
	fprintf(f, "  # the edge's tasks, checked on / (200: Ready to receive requests)\n");
	resource(f, "Edge", "TargetGroup", "AWS::ElasticLoadBalancingV2::TargetGroup", NULL);
	fprintf(f,
		"      TargetType: ip\n"
		"      Protocol: HTTP\n"
		"      Port: %d\n",
		RENDER_EDGE_PORT);
	ref(f, 6, "VpcId", "VpcId");
	fprintf(f,
		"      HealthCheckProtocol: HTTP\n"
		"      HealthCheckPath: /\n"
		"      Matcher:\n"
		"        HttpCode: '200'\n"
		"      HealthCheckIntervalSeconds: 10\n"
		"      HealthCheckTimeoutSeconds: 5\n"
		"      HealthyThresholdCount: 2\n"
		"      UnhealthyThresholdCount: 2\n"
		"      TargetGroupAttributes:\n"
		"        # the edge has no manifest: the longest deregistration_delay of the\n"
		"        # services it calls, and at least its request deadline (5s)\n"
		"        - Key: deregistration_delay.timeout_seconds\n"
		"          Value: '%lld'\n\n",
		(long long)edge_dereg_s(c));
	listener(f, false);
	fprintf(f, "\n  # with a certificate, every HTTP request is sent to HTTPS\n");
	resource(f, "Https", "Redirect", "AWS::ElasticLoadBalancingV2::ListenerRule",
		 "    Condition: Https\n");
	ref(f, 6, "ListenerArn", "HttpListener");
	fprintf(f, "      Priority: 1\n"
		   "      Conditions:\n"
		   "        - Field: path-pattern\n"
		   "          PathPatternConfig:\n"
		   "            Values: ['/*']\n"
		   "      Actions:\n"
		   "        - Type: redirect\n"
		   "          RedirectConfig:\n"
		   "            Protocol: HTTPS\n"
		   "            Port: '443'\n"
		   "            StatusCode: HTTP_301\n\n");
	listener(f, true);
	fputc('\n', f);
}

/* log_group writes w's log group, kept LogRetentionDays. */
static void log_group(FILE *f, const workload *w)
{
	char name[128];
	resource(f, w->id, "LogGroup", "AWS::Logs::LogGroup", NULL);
	snprintf(name, sizeof(name), "/ecs/${AWS::StackName}/%s", w->dns);
	sub(f, 6, "LogGroupName", name);
	ref(f, 6, "RetentionInDays", "LogRetentionDays");
	fputc('\n', f);
}

/* execution_role writes the role ECS starts w's tasks with: pull its image, read its identity's
 * TLS parameters and the CA (and its store URL's secret), write its log group. The tasks
 * themselves get no role: they call no AWS API. */
static void execution_role(FILE *f, const workload *w)
{
	char arn[256];
	resource(f, w->id, "ExecutionRole", "AWS::IAM::Role", NULL);
	fprintf(f,
		"      Description: '%s: pulls its image, reads its TLS parameters%s, writes its "
		"logs'\n"
		"      AssumeRolePolicyDocument:\n"
		"        Version: '2012-10-17'\n"
		"        Statement:\n"
		"          - Effect: Allow\n"
		"            Principal:\n"
		"              Service: ecs-tasks.amazonaws.com\n"
		"            Action: sts:AssumeRole\n"
		"      Policies:\n"
		"        - PolicyName: start-tasks\n"
		"          PolicyDocument:\n"
		"            Version: '2012-10-17'\n"
		"            Statement:\n"
		"              - Sid: PullImage\n"
		"                Effect: Allow\n"
		"                Action:\n"
		"                  - ecr:GetAuthorizationToken\n"
		"                  - ecr:BatchCheckLayerAvailability\n"
		"                  - ecr:GetDownloadUrlForLayer\n"
		"                  - ecr:BatchGetImage\n"
		"                Resource: '*'\n"
		"              - Sid: WriteLogs\n"
		"                Effect: Allow\n"
		"                Action:\n"
		"                  - logs:CreateLogStream\n"
		"                  - logs:PutLogEvents\n"
		"                Resource:\n"
		"                  Fn::GetAtt: [%sLogGroup, Arn]\n"
		"              - Sid: ReadTls\n"
		"                Effect: Allow\n"
		"                Action: ssm:GetParameters\n"
		"                Resource:\n",
		w->name, w->m != NULL ? " and store URL" : "", w->id);
	for (int i = 0; i < TLS_PARAMS; i++) {
		tls_arn(arn, sizeof(arn), w->name, i);
		fprintf(f, "                  - Fn::Sub: ");
		render_quote(f, arn);
		fputc('\n', f);
	}
	if (w->m != NULL) {
		fprintf(f,
			"              - Fn::If:\n"
			"                  - %sStore\n"
			"                  - Sid: ReadStoreUrl\n"
			"                    Effect: Allow\n"
			"                    Action: secretsmanager:GetSecretValue\n"
			"                    Resource:\n"
			"                      Ref: %sStoreSecretArn\n"
			"                  - Ref: AWS::NoValue\n",
			w->id, w->id);
	}
	fputc('\n', f);
}

/* security_group writes w's security group: nothing comes in but by the rules below it (each
 * caller's); out, HTTPS for the AWS APIs (image, secrets, logs) and, with a store URL, the
 * store's port; the mesh port to its callees by their rules. */
static void security_group(FILE *f, const workload *w)
{
	resource(f, w->id, "SecurityGroup", "AWS::EC2::SecurityGroup", NULL);
	fprintf(f, "      GroupDescription: 'cleave %s: reached only by what may call it'\n",
		w->name);
	ref(f, 6, "VpcId", "VpcId");
	fprintf(f,
		"      SecurityGroupEgress:\n"
		"        - IpProtocol: tcp\n"
		"          FromPort: 443\n"
		"          ToPort: 443\n"
		"          CidrIp: 0.0.0.0/0\n"
		"          Description: 'AWS APIs: ECR, SSM, Secrets Manager, CloudWatch Logs'\n");
	if (w->m != NULL) {
		fprintf(f,
			"        - Fn::If:\n"
			"            - %sStore\n"
			"            - IpProtocol: tcp\n",
			w->id);
		ref(f, 14, "FromPort", "StorePort");
		ref(f, 14, "ToPort", "StorePort");
		fprintf(f, "              CidrIp: 0.0.0.0/0\n"
			   "              Description: 'its PostgreSQL store'\n"
			   "            - Ref: AWS::NoValue\n");
	}
	fputc('\n', f);
}

/* sg_rule writes the resource <id><kind>, one security group rule of the given type (ingress or
 * egress): group's rule for tcp port, from or to the group peer (peer_key says which way). */
static void sg_rule(FILE *f, const char *id, const char *kind, const char *type, const char *group,
		    const char *peer_key, const char *peer, int port, const char *why)
{
	resource(f, id, kind, type, NULL);
	ref(f, 6, "GroupId", group);
	ref(f, 6, peer_key, peer);
	fprintf(f,
		"      IpProtocol: tcp\n"
		"      FromPort: %d\n"
		"      ToPort: %d\n"
		"      Description: '%s'\n",
		port, port, why);
}

/* rule writes the pair of rules letting from reach to's port: to's ingress and from's egress.
 * from_sg is from's security group (another than a workload's: the load balancer's). */
static void rule(FILE *f, const char *to_id, const char *from_id, const char *from_sg, int port,
		 const char *why)
{
	char sg[96], kind[96];
	snprintf(sg, sizeof(sg), "%sSecurityGroup", to_id);
	snprintf(kind, sizeof(kind), "From%s", from_id);
	sg_rule(f, to_id, kind, "AWS::EC2::SecurityGroupIngress", sg, "SourceSecurityGroupId",
		from_sg, port, why);
	if (strcmp(from_sg, "LoadBalancerSecurityGroup") == 0)
		return; /* its egress is in its group */
	snprintf(kind, sizeof(kind), "To%s", to_id);
	sg_rule(f, from_id, kind, "AWS::EC2::SecurityGroupEgress", from_sg,
		"DestinationSecurityGroupId", sg, port, why);
}

/* rules writes who may reach service w: the edge when it sends it requests, and each service
 * whose calls: name it, on the mesh port; no one else. */
static void rules(FILE *f, const render_ctx *c, const workload *w)
{
	char why[160];
	bool any = false;
	fprintf(f, "  # %s:%d is reached only by:", w->name, RENDER_SVC_PORT);
	if (render_upstream(c, w->k)) {
		fprintf(f, " edge (its routes)");
		any = true;
	}
	for (size_t i = 0; i < c->n; i++)
		if (render_called_by(c, i, w->k)) {
			fprintf(f, "%s %s (its calls:)", any ? "," : "", c->ms[i]->name);
			any = true;
		}
	fprintf(f, "%s\n", any ? "" : " no one");
	if (render_upstream(c, w->k)) {
		snprintf(why, sizeof(why), "the edge sends %s requests", w->name);
		rule(f, w->id, "Edge", "EdgeSecurityGroup", RENDER_SVC_PORT, why);
	}
	for (size_t i = 0; i < c->n; i++) {
		workload from;
		char sg[96];
		if (!render_called_by(c, i, w->k))
			continue;
		workload_init(&from, c, i, false);
		snprintf(sg, sizeof(sg), "%sSecurityGroup", from.id);
		snprintf(why, sizeof(why), "%s calls %s", from.name, w->name);
		rule(f, w->id, from.id, sg, RENDER_SVC_PORT, why);
	}
	fputc('\n', f);
}

/* discovery writes w's Cloud Map service: <name>.ServiceDomain, an A record per healthy task. */
static void discovery(FILE *f, const workload *w)
{
	fprintf(f,
		"  # %s.ServiceDomain: every healthy task's address (up to 8 an answer), which\n"
		"  # its callers dial each, re-resolving every 5s\n",
		w->dns);
	resource(f, w->id, "Discovery", "AWS::ServiceDiscovery::Service", NULL);
	fprintf(f,
		"      Name: %s\n"
		"      NamespaceId:\n"
		"        Fn::GetAtt: [Namespace, Id]\n"
		"      DnsConfig:\n"
		"        RoutingPolicy: MULTIVALUE\n"
		"        DnsRecords:\n"
		"          - Type: A\n"
		"            TTL: %d\n"
		"      HealthCheckCustomConfig:  # the container's health check\n"
		"        FailureThreshold: 1\n\n",
		w->dns, DNS_TTL_S);
}

/* health_check writes the container's health check: its binary's --check, with ECS's ranges. */
static void health_check(FILE *f, const workload *w, const manifest_healthcheck *h)
{
	const char *url = w->m == NULL ? "http://127.0.0.1:8080/" : "tls+tcp://127.0.0.1:7000";
	int64_t interval = seconds(h->interval_ms, 5, 300), timeout = seconds(h->timeout_ms, 2, 60);
	char was[32];
	fprintf(f,
		"          HealthCheck:\n"
		"            Command: [CMD, /usr/local/bin/%s, --check, '%s']\n"
		"            Interval: %lld",
		w->bin, url, (long long)interval);
	if (interval * 1000 != h->interval_ms) {
		render_duration(was, sizeof(was), h->interval_ms);
		fprintf(f, "  # the manifest's %s; ECS allows 5 to 300 s", was);
	}
	fprintf(f, "\n            Timeout: %lld", (long long)timeout);
	if (timeout * 1000 != h->timeout_ms) {
		render_duration(was, sizeof(was), h->timeout_ms);
		fprintf(f, "  # the manifest's %s; ECS allows 2 to 60 s", was);
	}
	fprintf(f,
		"\n            Retries: %d\n"
		"            StartPeriod: %lld\n",
		h->unhealthy_threshold, (long long)seconds(h->grace_period_ms, 0, 300));
}

/* task_definition writes w's task definition: one container, non-root, read-only root, its
 * identity's certificate from SSM, its store URL from Secrets Manager when given, logs to its
 * log group, checked by its binary's --check. */
static int task_definition(FILE *f, const render_ctx *c, const workload *w, char *err,
			   size_t errlen)
{
	static const manifest_healthcheck edge_check = {.interval_ms = 5000,
							.timeout_ms = 2000,
							.healthy_threshold = 2,
							.unhealthy_threshold = 2};
	int64_t want_cpu, want_mem, stop;
	int cpu, mem, port = w->m == NULL ? RENDER_EDGE_PORT : RENDER_SVC_PORT;
	char text[256];
	render_fargate_want(w->m, &want_cpu, &want_mem);
	if (render_fargate_fit(want_cpu, want_mem, &cpu, &mem) != 0) {
		snprintf(err, errlen,
			 "%s: cpu: %d and memory: %lld MiB fit no Fargate task size (at most 16 "
			 "vCPU, 120 GiB)",
			 w->m->file, w->m->cpu_millis, (long long)want_mem);
		return -1;
	}
	resource(f, w->id, "TaskDefinition", "AWS::ECS::TaskDefinition", NULL);
	snprintf(text, sizeof(text), "${AWS::StackName}-%s", w->dns);
	sub(f, 6, "Family", text);
	fprintf(f, "      RequiresCompatibilities: [FARGATE]\n"
		   "      NetworkMode: awsvpc\n");
	fprintf(f, "      Cpu: '%d'", cpu);
	if (want_cpu > 0)
		fprintf(f, "  # cpu: %d millicores = %lld CPU units, rounded up to a Fargate size",
			w->m->cpu_millis, (long long)want_cpu);
	else
		fprintf(f, "  # %s: the smallest Fargate size",
			w->m == NULL ? "the edge" : "no cpu: in the manifest");
	fprintf(f, "\n      Memory: '%d'", mem);
	if (want_mem > 0)
		fprintf(f, "  # memory: %lld MiB, rounded up to one valid with cpu %d",
			(long long)want_mem, cpu);
	else
		fprintf(f, "  # the smallest valid with cpu %d", cpu);
	fprintf(f, "\n      RuntimePlatform:\n"
		   "        OperatingSystemFamily: LINUX\n");
	ref(f, 8, "CpuArchitecture", "CpuArchitecture");
	fprintf(f,
		"      ExecutionRoleArn:\n"
		"        Fn::GetAtt: [%sExecutionRole, Arn]\n",
		w->id);
	if (w->m != NULL)
		fprintf(f,
			"      Volumes:  # the task's own storage, at the image's VOLUME (owned by "
			"10001)\n"
			"        - Name: data\n");
	fprintf(f,
		"      ContainerDefinitions:\n"
		"        - Name: %s\n",
		w->dns);
	snprintf(text, sizeof(text), "${ImagePrefix}%s:${ImageTag}", w->dns);
	sub(f, 10, "Image", text);
	fprintf(f,
		"          Essential: true\n"
		"          User: '%d:%d'\n"
		"          ReadonlyRootFilesystem: true\n"
		"          LinuxParameters:\n"
		"            Capabilities:\n"
		"              Drop: [ALL]\n"
		"          PortMappings:\n"
		"            - ContainerPort: %d\n"
		"              Protocol: tcp\n"
		"          Environment:\n",
		RENDER_UID, RENDER_UID, port);
	if (w->m != NULL) {
		fprintf(f,
			"            - Name: CLEAVE_LISTEN\n"
			"              Value: 'tls+tcp://0.0.0.0:%d'\n"
			"            - Name: CLEAVE_MANIFESTS  # its call policy: what they allow\n"
			"              Value: %s\n",
			RENDER_SVC_PORT, RENDER_MANIFESTS);
	}
	for (size_t j = 0; j < c->n; j++) {
		char env[128], dns[128];
		bool calls = w->m == NULL ? render_upstream(c, j) : render_called_by(c, w->k, j);
		if (!calls)
			continue;
		render_env_name(env, sizeof(env), c->ms[j]->name);
		render_dns(dns, sizeof(dns), c->ms[j]->name);
		fprintf(f, "            - Name: CLEAVE_%s_%s\n", w->m == NULL ? "UPSTREAM" : "CALL",
			env);
		snprintf(text, sizeof(text), "tls+tcp://%s.${ServiceDomain}:%d", dns,
			 RENDER_SVC_PORT);
		sub(f, 14, "Value", text);
	}
	fprintf(f, "          Secrets:  # mutual TLS: %s's certificate and key, the CA (PEM)\n",
		w->name);
	for (int i = 0; i < TLS_PARAMS; i++) {
		static const char *const vars[TLS_PARAMS] = {
		    "CLEAVE_TLS_CERT_PEM", "CLEAVE_TLS_KEY_PEM", "CLEAVE_TLS_CA_PEM"};
		char arn[256];
		tls_arn(arn, sizeof(arn), w->name, i);
		fprintf(f, "            - Name: %s\n", vars[i]);
		sub(f, 14, "ValueFrom", arn);
	}
	if (w->m != NULL) {
		fprintf(f,
			"            - Fn::If:\n"
			"                - %sStore\n"
			"                - Name: CLEAVE_STORE_URL\n"
			"                  ValueFrom:\n"
			"                    Ref: %sStoreSecretArn\n"
			"                - Ref: AWS::NoValue\n"
			"          MountPoints:\n"
			"            - SourceVolume: data\n"
			"              ContainerPath: %s\n"
			"              ReadOnly: false\n",
			w->id, w->id, RENDER_DATA_DIR);
	}
	health_check(f, w, w->m == NULL ? &edge_check : &w->m->health);
	stop = w->m == NULL ? 15 : render_ceil_s(w->m->deregistration_delay_ms) + 10;
	if (stop > STOP_TIMEOUT_MAX)
		stop = STOP_TIMEOUT_MAX;
	fprintf(f, "          StopTimeout: %lld  # %s\n", (long long)stop,
		w->m == NULL ? "to finish the requests in flight"
			     : "deregistration_delay + 10s to drain (at most 120s)");
	fprintf(f,
		"          LogConfiguration:\n"
		"            LogDriver: awslogs\n"
		"            Options:\n"
		"              awslogs-group:\n"
		"                Ref: %sLogGroup\n"
		"              awslogs-region:\n"
		"                Ref: AWS::Region\n"
		"              awslogs-stream-prefix: %s\n\n",
		w->id, w->dns);
	return 0;
}

/* service writes w's ECS service: its count of tasks on Fargate in the private subnets, no
 * public IP, its security group; a service registered in Cloud Map, the edge in its target
 * group. */
static void service(FILE *f, const render_ctx *c, const workload *w)
{
	resource(f, w->id, "Service", "AWS::ECS::Service",
		 w->m == NULL ? "    DependsOn: HttpListener  # its target group must have a load "
				"balancer first\n"
			      : NULL);
	ref(f, 6, "Cluster", "Cluster");
	fprintf(f,
		"      TaskDefinition:\n"
		"        Ref: %sTaskDefinition\n"
		"      LaunchType: FARGATE\n"
		"      PlatformVersion: LATEST\n",
		w->id);
	if (w->m == NULL)
		fprintf(f, "      DesiredCount: %d\n", c->o->edge_count);
	else if (w->m->count == 1)
		fprintf(f, "      DesiredCount: 1\n");
	else
		fprintf(
		    f,
		    "      DesiredCount:  # the manifest's count with a store URL; SQLite on a\n"
		    "        # task's own storage cannot be shared: one task without\n"
		    "        Fn::If: [%sStore, %d, 1]\n",
		    w->id, w->m->count);
	fprintf(f, "      DeploymentConfiguration:\n"
		   "        MinimumHealthyPercent: 100\n"
		   "        MaximumPercent: 200\n"
		   "        DeploymentCircuitBreaker:\n"
		   "          Enable: true\n"
		   "          Rollback: true\n"
		   "      NetworkConfiguration:\n"
		   "        AwsvpcConfiguration:\n"
		   "          AssignPublicIp: DISABLED\n");
	ref(f, 10, "Subnets", "PrivateSubnets");
	fprintf(f,
		"          SecurityGroups:\n"
		"            - Ref: %sSecurityGroup\n",
		w->id);
	if (w->m == NULL) {
		fprintf(f,
			"      HealthCheckGracePeriodSeconds: 10\n"
			"      LoadBalancers:\n"
			"        - ContainerName: %s\n"
			"          ContainerPort: %d\n",
			w->dns, RENDER_EDGE_PORT);
		ref(f, 10, "TargetGroupArn", "EdgeTargetGroup");
	} else {
		fprintf(f,
			"      ServiceRegistries:\n"
			"        - RegistryArn:\n"
			"            Fn::GetAtt: [%sDiscovery, Arn]\n",
			w->id);
	}
	fputc('\n', f);
}

/* edge writes the edge's resources: the load balancer reaches it on 8080. */
static int edge(FILE *f, const render_ctx *c, char *err, size_t errlen)
{
	workload w;
	workload_init(&w, c, 0, true);
	fprintf(f,
		"  # ---- edge: the HTTP API, behind the load balancer; calls the services as the\n"
		"  # identity edge\n");
	log_group(f, &w);
	execution_role(f, &w);
	security_group(f, &w);
	fprintf(f, "  # edge:%d is reached only by: the load balancer\n", RENDER_EDGE_PORT);
	rule(f, w.id, "LoadBalancer", "LoadBalancerSecurityGroup", RENDER_EDGE_PORT,
	     "the load balancer sends the edge requests");
	fputc('\n', f);
	if (task_definition(f, c, &w, err, errlen) != 0)
		return -1;
	service(f, c, &w);
	return 0;
}

static int services(FILE *f, const render_ctx *c, char *err, size_t errlen)
{
	for (size_t k = 0; k < c->n; k++) {
		workload w;
		workload_init(&w, c, k, false);
		fprintf(f, "  # ---- %s (%s), reached as %s.ServiceDomain:%d, as the identity %s\n",
			w.name, c->ms[k]->service, w.dns, RENDER_SVC_PORT, w.name);
		log_group(f, &w);
		execution_role(f, &w);
		security_group(f, &w);
		rules(f, c, &w);
		discovery(f, &w);
		if (task_definition(f, c, &w, err, errlen) != 0)
			return -1;
		service(f, c, &w);
	}
	return 0;
}

static void outputs(FILE *f)
{
	fprintf(f, "Outputs:\n"
		   "  ApiUrl:\n"
		   "    Description: 'The forum API'\n"
		   "    Value:\n"
		   "      Fn::If:\n"
		   "        - Https\n"
		   "        - Fn::Sub: 'https://${LoadBalancer.DNSName}/api'\n"
		   "        - Fn::Sub: 'http://${LoadBalancer.DNSName}/api'\n"
		   "  ClusterName:\n"
		   "    Value:\n"
		   "      Ref: Cluster\n");
}

int render_ecs(const render_ctx *c, char *err, size_t errlen)
{
	FILE *f = render_begin(c->out, "template.yml");
	if (f == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t k = 0; k < c->n; k++) {
		workload w;
		workload_init(&w, c, k, false);
		if (strcmp(w.id, "Edge") == 0) {
			snprintf(err, errlen, "%s: ecs: a service may not be called edge",
				 c->ms[k]->file);
			return -1;
		}
	}
	header(f, c);
	parameters(f, c);
	load_balancer(f, c);
	if (edge(f, c, err, errlen) != 0 || services(f, c, err, errlen) != 0)
		return -1;
	outputs(f);
	return 0;
}
