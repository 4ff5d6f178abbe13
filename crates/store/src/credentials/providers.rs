//! The credential providers and their fields: which are required, which are secret (masked in
//! listings), and the environment a program expects them in.

use std::fmt;

/// A supported provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Provider {
    /// Amazon Web Services: access key, secret key, region, optional session token.
    Aws,
    /// Google Cloud: project and service account JSON key.
    Gcp,
    /// Microsoft Azure: a service principal (subscription, tenant, client id and secret).
    Azure,
    /// Cloudflare: an API token, account and optional zone.
    Cloudflare,
    /// Kubernetes: a kubeconfig and an optional context.
    Kubernetes,
}

/// One field of a provider's credential object.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    /// The field's name in the credential's JSON object.
    pub name: &'static str,
    /// Whether a credential of the provider must have it.
    pub required: bool,
    /// Whether the value is secret (masked when listed) rather than an identifier.
    pub secret: bool,
}

const fn field(name: &'static str, required: bool, secret: bool) -> Field {
    Field { name, required, secret }
}

impl Provider {
    /// Every provider, in the order they are listed.
    pub const ALL: [Provider; 5] = [Provider::Aws, Provider::Gcp, Provider::Azure, Provider::Cloudflare, Provider::Kubernetes];

    /// The provider's name on the command line and in secret names.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Aws => "aws",
            Provider::Gcp => "gcp",
            Provider::Azure => "azure",
            Provider::Cloudflare => "cloudflare",
            Provider::Kubernetes => "kubernetes",
        }
    }

    /// The provider of that name, if any.
    pub fn from_name(name: &str) -> Option<Provider> {
        Provider::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The provider's fields, in the order they are stored and shown.
    pub fn fields(self) -> &'static [Field] {
        const AWS: [Field; 4] = [
            field("access_key_id", true, true),
            field("secret_access_key", true, true),
            field("region", true, false),
            field("session_token", false, true),
        ];
        const GCP: [Field; 2] = [field("project_id", true, false), field("service_account_json", true, true)];
        const AZURE: [Field; 4] = [
            field("subscription_id", true, false),
            field("tenant_id", true, false),
            field("client_id", true, false),
            field("client_secret", true, true),
        ];
        const CLOUDFLARE: [Field; 3] = [field("api_token", true, true), field("account_id", true, false), field("zone_id", false, false)];
        const KUBERNETES: [Field; 2] = [field("kubeconfig_content", true, true), field("context_name", false, false)];
        match self {
            Provider::Aws => &AWS,
            Provider::Gcp => &GCP,
            Provider::Azure => &AZURE,
            Provider::Cloudflare => &CLOUDFLARE,
            Provider::Kubernetes => &KUBERNETES,
        }
    }

    /// The provider's field of that name, if it has one.
    pub fn field(self, name: &str) -> Option<Field> {
        self.fields().iter().copied().find(|f| f.name == name)
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a program receives one provider's credentials.
#[derive(Debug, PartialEq, Eq)]
pub enum Exposure {
    /// An environment variable holding a field's value.
    Env {
        /// The variable's name.
        var: &'static str,
        /// The field whose value it holds.
        field: &'static str,
    },
    /// A private file holding a field's value, its path in an environment variable.
    File {
        /// The variable that holds the file's path.
        var: &'static str,
        /// The field whose value the file holds.
        field: &'static str,
        /// The file's name in the private folder.
        file_name: &'static str,
    },
}

impl Provider {
    /// The standard environment of the provider's tools and SDKs.
    pub fn exposures(self) -> &'static [Exposure] {
        use Exposure::{Env, File};
        match self {
            Provider::Aws => &[
                Env { var: "AWS_ACCESS_KEY_ID", field: "access_key_id" },
                Env { var: "AWS_SECRET_ACCESS_KEY", field: "secret_access_key" },
                Env { var: "AWS_SESSION_TOKEN", field: "session_token" },
                Env { var: "AWS_REGION", field: "region" },
                Env { var: "AWS_DEFAULT_REGION", field: "region" },
            ],
            Provider::Gcp => &[
                File { var: "GOOGLE_APPLICATION_CREDENTIALS", field: "service_account_json", file_name: "service-account.json" },
                Env { var: "GOOGLE_CLOUD_PROJECT", field: "project_id" },
                Env { var: "CLOUDSDK_CORE_PROJECT", field: "project_id" },
            ],
            Provider::Azure => &[
                Env { var: "ARM_SUBSCRIPTION_ID", field: "subscription_id" },
                Env { var: "ARM_TENANT_ID", field: "tenant_id" },
                Env { var: "ARM_CLIENT_ID", field: "client_id" },
                Env { var: "ARM_CLIENT_SECRET", field: "client_secret" },
                Env { var: "AZURE_SUBSCRIPTION_ID", field: "subscription_id" },
                Env { var: "AZURE_TENANT_ID", field: "tenant_id" },
                Env { var: "AZURE_CLIENT_ID", field: "client_id" },
                Env { var: "AZURE_CLIENT_SECRET", field: "client_secret" },
            ],
            Provider::Cloudflare => &[
                Env { var: "CLOUDFLARE_API_TOKEN", field: "api_token" },
                Env { var: "CLOUDFLARE_ACCOUNT_ID", field: "account_id" },
                Env { var: "CLOUDFLARE_ZONE_ID", field: "zone_id" },
            ],
            Provider::Kubernetes => &[File { var: "KUBECONFIG", field: "kubeconfig_content", file_name: "kubeconfig" }],
        }
    }
}
